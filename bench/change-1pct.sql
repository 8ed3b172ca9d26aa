-- change-1pct.sql — bench: set-based change of 1% of a generated child's contacts and their related rows.
--
-- Sourced by bench/bench.sh into the child database between two incremental runs; each
-- change is followed by SELECT ROW_COUNT() so the script can report how many rows changed.
-- The 1%: contacts with (id + id DIV 100) % 100 = 37, one per hundred ids at a position that
-- moves from block to block, so every contact type and generator slot is hit.
-- For those contacts: the contact (UPDATE), its emails (UPDATE), one new phone each (INSERT),
-- its websites (DELETE), relationships where it is contact A (UPDATE), notes on it (UPDATE),
-- its entity tags (DELETE, then one new tag each: INSERT), its group memberships (DELETE) and
-- the activities it is the target of (UPDATE). Tables with a modified_date get NOW(), as
-- CiviCRM does.
SET time_zone = '+00:00';
DROP TEMPORARY TABLE IF EXISTS bench_ids;
CREATE TEMPORARY TABLE bench_ids (id int unsigned NOT NULL PRIMARY KEY)
SELECT id FROM civicrm_contact WHERE id > 1 AND (id + id DIV 100) % 100 = 37;
UPDATE civicrm_contact c JOIN bench_ids b ON b.id = c.id
   SET c.nick_name = CONCAT('bench-', c.id), c.modified_date = NOW();
SELECT ROW_COUNT();
UPDATE civicrm_email e JOIN bench_ids b ON b.id = e.contact_id
   SET e.email = CONCAT('bench.', e.id, '@example.org');
SELECT ROW_COUNT();
INSERT INTO civicrm_phone (contact_id, location_type_id, is_primary, is_billing, phone,
                           phone_numeric, phone_type_id)
SELECT id, 1, 0, 0, CONCAT('+1 555 ', id), CONCAT('1555', id), 1 FROM bench_ids;
SELECT ROW_COUNT();
DELETE w FROM civicrm_website w JOIN bench_ids b ON b.id = w.contact_id;
SELECT ROW_COUNT();
UPDATE civicrm_relationship r JOIN bench_ids b ON b.id = r.contact_id_a
   SET r.description = CONCAT('bench ', r.id);
SELECT ROW_COUNT();
UPDATE civicrm_note n JOIN bench_ids b ON b.id = n.entity_id AND n.entity_table = 'civicrm_contact'
   SET n.subject = CONCAT('bench ', n.id), n.modified_date = NOW();
SELECT ROW_COUNT();
DELETE t FROM civicrm_entity_tag t JOIN bench_ids b ON b.id = t.entity_id AND t.entity_table = 'civicrm_contact';
SELECT ROW_COUNT();
INSERT INTO civicrm_entity_tag (entity_table, entity_id, tag_id)
SELECT 'civicrm_contact', id, 4 FROM bench_ids;
SELECT ROW_COUNT();
DELETE g FROM civicrm_group_contact g JOIN bench_ids b ON b.id = g.contact_id;
SELECT ROW_COUNT();
UPDATE civicrm_activity a
  JOIN civicrm_activity_contact ac ON ac.activity_id = a.id AND ac.record_type_id = 3
  JOIN bench_ids b ON b.id = ac.contact_id
   SET a.subject = CONCAT('bench ', a.id), a.modified_date = NOW();
SELECT ROW_COUNT();
DROP TEMPORARY TABLE bench_ids;
