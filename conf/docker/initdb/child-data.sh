# child-data.sh — demo rows for the local trial's child (docker-compose.yml); sourced by the mariadb image's entrypoint.
#
# Mounted as /docker-entrypoint-initdb.d/30-child-data.sh, after the schema (10-) and the seed
# (20-), so it runs once, when the data volume is first initialised. It loads the project's
# set-based generator tests/fixtures/child-data.sql (mounted at /civisync-fixtures/) into
# $MARIADB_DATABASE with CIVISYNC_DEMO_CONTACTS contacts (default 200) of variant 1.
# docker_process_sql and mysql_note are the entrypoint's own functions.
_cs_contacts=${CIVISYNC_DEMO_CONTACTS:-200}
case "$_cs_contacts" in
'' | *[!0-9]*) mysql_error "CIVISYNC_DEMO_CONTACTS must be a number >= 20 (got '$_cs_contacts')" ;;
esac
mysql_note "civisync: loading $_cs_contacts demo contacts into $MARIADB_DATABASE"
{
        printf 'SET @cs_variant = 1, @cs_contacts = %d;\n' "$_cs_contacts"
        cat /civisync-fixtures/child-data.sql
} | docker_process_sql
unset _cs_contacts
