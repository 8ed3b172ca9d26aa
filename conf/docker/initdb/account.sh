# account.sh — the civisync database account of a local-trial database (docker-compose.yml); sourced by the mariadb image's entrypoint.
#
# Mounted as /docker-entrypoint-initdb.d/40-account.sh on the child and the master. Creates
# CIVISYNC_DB_USER (from any host of the compose network) with CIVISYNC_DB_PASSWORD and
# database-wide grants on $MARIADB_DATABASE (production: the table-level grants of
# docs/OPERATIONS.md §2, conf/master-grants.sql.example):
#   CIVISYNC_DB_ROLE=reader  SELECT                                (the child's producer)
#   CIVISYNC_DB_ROLE=writer  SELECT, INSERT, UPDATE, DELETE, CREATE (the master's consumer)
# (MARIADB_USER is not used: the image grants that user ALL on the database.)
case "${CIVISYNC_DB_ROLE:-}" in
reader) _cs_grants="SELECT" ;;
writer) _cs_grants="SELECT, INSERT, UPDATE, DELETE, CREATE" ;;
*) mysql_error "CIVISYNC_DB_ROLE must be reader or writer (got '${CIVISYNC_DB_ROLE:-}')" ;;
esac
[ -n "${CIVISYNC_DB_USER:-}" ] && [ -n "${CIVISYNC_DB_PASSWORD:-}" ] ||
        mysql_error "CIVISYNC_DB_USER and CIVISYNC_DB_PASSWORD must be set"
case "$CIVISYNC_DB_USER$MARIADB_DATABASE" in
*[!A-Za-z0-9_]*) mysql_error "CIVISYNC_DB_USER and MARIADB_DATABASE must be [A-Za-z0-9_]" ;;
esac
# A string literal: backslashes and single quotes escaped.
_cs_pw=${CIVISYNC_DB_PASSWORD//\\/\\\\}
_cs_pw=${_cs_pw//\'/\\\'}
mysql_note "civisync: account $CIVISYNC_DB_USER ($CIVISYNC_DB_ROLE: $_cs_grants on $MARIADB_DATABASE)"
docker_process_sql <<EOSQL
CREATE USER '$CIVISYNC_DB_USER'@'%' IDENTIFIED BY '$_cs_pw';
GRANT $_cs_grants ON \`$MARIADB_DATABASE\`.* TO '$CIVISYNC_DB_USER'@'%';
EOSQL
unset _cs_pw _cs_grants
