#!/bin/bash
# check-db.sh — integrity check of a CiviCRM test database: FK orphans, polymorphic refs, group caches.
#
# Usage: check-db.sh DB [--counts]
#   Counts orphans for every FOREIGN KEY of DB (from information_schema, so it works for the
#   5.x and 4.2 schemas), for the polymorphic references (note.entity_table/entity_id,
#   entity_tag.entity_table/entity_id) and checks civicrm_group.parents/children against
#   civicrm_group_nesting. Prints each non-zero finding; exit 0 when everything is clean,
#   1 otherwise. --counts also prints the row count of every table.
# Needs the CS_TEST_* environment exported by tests/lib/services.sh.
set -u
db=${1:-}
[[ "$db" =~ ^[A-Za-z0-9_]{1,64}$ ]] || { echo "usage: check-db.sh DB [--counts]" >&2; exit 1; }
counts=0; [ "${2:-}" = --counts ] && counts=1

sqlc() {
        mariadb --no-defaults --socket="$CS_TEST_MYSQL_SOCKET" \
                -u"${CS_TEST_MYSQL_USER:-civisync}" -p"${CS_TEST_MYSQL_PASSWORD:-civisync}" \
                --default-character-set=utf8mb4 --batch --skip-column-names "$@"
}

# One UNION query: a row per FK with its orphan count.
q=$(sqlc -e "
SELECT GROUP_CONCAT(CONCAT(
  'SELECT ''', k.table_name, '.', k.column_name, ' -> ', k.referenced_table_name, ''' AS fk, COUNT(*) AS n FROM \`',
  k.table_schema, '\`.\`', k.table_name, '\` c LEFT JOIN \`', k.table_schema, '\`.\`', k.referenced_table_name,
  '\` p ON p.\`', k.referenced_column_name, '\` = c.\`', k.column_name, '\` WHERE c.\`', k.column_name,
  '\` IS NOT NULL AND p.\`', k.referenced_column_name, '\` IS NULL')
  ORDER BY k.table_name, k.column_name SEPARATOR ' UNION ALL ')
FROM information_schema.key_column_usage k
WHERE k.table_schema = '$db' AND k.referenced_table_name IS NOT NULL") || exit 1
if [ -z "$q" ] || [ "$q" = NULL ]; then
        echo "check-db.sh: no foreign keys found in '$db'" >&2
        exit 1
fi
nfk=$(sqlc -e "SELECT COUNT(*) FROM information_schema.key_column_usage
               WHERE table_schema='$db' AND referenced_table_name IS NOT NULL") || exit 1

poly="
SELECT 'civicrm_note.entity_id (civicrm_contact)', COUNT(*) FROM civicrm_note n LEFT JOIN civicrm_contact t ON t.id = n.entity_id WHERE n.entity_table = 'civicrm_contact' AND t.id IS NULL
UNION ALL SELECT 'civicrm_note.entity_id (civicrm_relationship)', COUNT(*) FROM civicrm_note n LEFT JOIN civicrm_relationship t ON t.id = n.entity_id WHERE n.entity_table = 'civicrm_relationship' AND t.id IS NULL
UNION ALL SELECT 'civicrm_note.entity_id (civicrm_note)', COUNT(*) FROM civicrm_note n LEFT JOIN civicrm_note t ON t.id = n.entity_id WHERE n.entity_table = 'civicrm_note' AND t.id IS NULL
UNION ALL SELECT 'civicrm_note.entity_table (other)', COUNT(*) FROM civicrm_note WHERE entity_table NOT IN ('civicrm_contact','civicrm_relationship','civicrm_note')
UNION ALL SELECT 'civicrm_entity_tag.entity_id (civicrm_contact)', COUNT(*) FROM civicrm_entity_tag e LEFT JOIN civicrm_contact t ON t.id = e.entity_id WHERE e.entity_table = 'civicrm_contact' AND t.id IS NULL
UNION ALL SELECT 'civicrm_entity_tag.entity_id (civicrm_activity)', COUNT(*) FROM civicrm_entity_tag e LEFT JOIN civicrm_activity t ON t.id = e.entity_id WHERE e.entity_table = 'civicrm_activity' AND t.id IS NULL
UNION ALL SELECT 'civicrm_group.parents vs nesting', COUNT(*) FROM civicrm_group g WHERE NOT (COALESCE(g.parents,'') <=> COALESCE((SELECT GROUP_CONCAT(n.parent_group_id ORDER BY n.parent_group_id) FROM civicrm_group_nesting n WHERE n.child_group_id = g.id),''))
UNION ALL SELECT 'civicrm_group.children vs nesting', COUNT(*) FROM civicrm_group g WHERE NOT (COALESCE(g.children,'') <=> COALESCE((SELECT GROUP_CONCAT(n.child_group_id ORDER BY n.child_group_id) FROM civicrm_group_nesting n WHERE n.parent_group_id = g.id),''))"

out=$( { echo "$q;"; echo "$poly;"; } | sqlc "$db") || exit 1
bad=$(printf '%s\n' "$out" | awk -F'\t' '$2 != 0')
if [ $counts = 1 ]; then
        for t in $(sqlc -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db' ORDER BY 1"); do
                printf '%-32s %s\n' "$t" "$(sqlc "$db" -e "SELECT COUNT(*) FROM \`$t\`")"
        done
fi
if [ -n "$bad" ]; then
        echo "check-db.sh: $db has orphans / inconsistencies:" >&2
        printf '%s\n' "$bad" >&2
        exit 1
fi
echo "check-db.sh: $db clean ($nfk foreign keys, 8 polymorphic/cache checks, 0 orphans)"
exit 0
