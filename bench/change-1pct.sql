-- change-1pct.sql — bench: set-based change of 1% of a generated child's contacts (id % 100 = 37) and their related rows.
--
-- Sourced by bench/bench.sh into the child database between two incremental runs; each
-- statement is followed by SELECT ROW_COUNT() so the script can report how many rows changed.
-- Touches, for the chosen contacts only: the contact itself (UPDATE), its emails (UPDATE),
-- one new phone each (INSERT), its websites (DELETE), relationships where it is contact A
-- (UPDATE), notes on it (UPDATE), a tag (INSERT IGNORE into entity_tag), its "Removed" group
-- memberships (DELETE) and activities it is the source of (UPDATE). Tables with a
-- modified_date get it set to NOW(), like CiviCRM does.
SET time_zone = '+00:00';
UPDATE civicrm_contact SET nick_name = CONCAT('bench-', id), modified_date = NOW()
 WHERE id % 100 = 37;
SELECT ROW_COUNT();
UPDATE civicrm_email SET email = CONCAT('bench.', id, '@example.org')
 WHERE contact_id % 100 = 37;
SELECT ROW_COUNT();
INSERT INTO civicrm_phone (contact_id, location_type_id, is_primary, is_billing, phone,
                           phone_numeric, phone_type_id)
SELECT id, 1, 0, 0, CONCAT('+1 555 ', id), CONCAT('1555', id), 1
  FROM civicrm_contact WHERE id % 100 = 37;
SELECT ROW_COUNT();
DELETE FROM civicrm_website WHERE contact_id % 100 = 37;
SELECT ROW_COUNT();
UPDATE civicrm_relationship SET description = CONCAT('bench ', id)
 WHERE contact_id_a % 100 = 37;
SELECT ROW_COUNT();
UPDATE civicrm_note SET subject = CONCAT('bench ', id), modified_date = NOW()
 WHERE entity_table = 'civicrm_contact' AND entity_id % 100 = 37;
SELECT ROW_COUNT();
INSERT IGNORE INTO civicrm_entity_tag (entity_table, entity_id, tag_id)
SELECT 'civicrm_contact', id, 4 FROM civicrm_contact WHERE id % 100 = 37;
SELECT ROW_COUNT();
DELETE FROM civicrm_group_contact WHERE contact_id % 100 = 37 AND status = 'Removed';
SELECT ROW_COUNT();
UPDATE civicrm_activity a
  JOIN civicrm_activity_contact ac ON ac.activity_id = a.id AND ac.record_type_id = 2
   SET a.subject = CONCAT('bench ', a.id), a.modified_date = NOW()
 WHERE ac.contact_id % 100 = 37;
SELECT ROW_COUNT();
