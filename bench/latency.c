/* latency.c — bench helper: drives a steady mixed write load on a child and measures child commit -> master commit latency per change. */
/*
 * Usage: civisync-bench-latency --socket S --user U [--password P]
 *            --child DB --master DB [--rate N] [--seconds N] [--drain N]
 *
 * On the master it creates bench_arrival and AFTER INSERT/UPDATE/DELETE
 * triggers on civicrm_contact recording the contact's job_title (and the
 * operation). On the child it runs --rate changes per second (default 200)
 * for --seconds (default 60), autocommit, one statement per change: 40 %
 * inserts of a contact, 40 % updates of a contact's job_title, 20 % deletes
 * of a contact this run inserted. Every insert and update writes a unique
 * marker "lat:N" into job_title; a delete is recognised on the master by
 * the marker the deleted row carried. A contact is updated or deleted only
 * when its previous change is at least REUSE_AFTER_S old (so that changes
 * are not merged into one document on the way, which would hide one).
 *
 * The child commit time is the client's clock when the statement returned;
 * the master commit time is when a poll of bench_arrival (every POLL_MS)
 * first sees the trigger's row, which becomes visible at the consumer's
 * commit. Both run on one machine (one clock). After the load it keeps
 * polling until every change has arrived or --drain seconds (default 30)
 * passed, then prints the counts and p50/p95/p99/max latency in ms (all
 * changes and per kind). Exit 0, or 1 on a database error.
 */
#include <getopt.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 5
#define REUSE_AFTER_S 2.0

enum { K_INS = 0, K_UPD, K_DEL, K_CNT };
static const char *const kind_name[K_CNT] = { "insert", "update", "delete" };

typedef struct change_s {
        int kind;
        long long marker;     /* I/U: its own marker; D: the deleted row's */
        double committed, arrived; /* arrived 0: not yet */
} change_t;

typedef struct contact_s {
        long long id;
        long long marker;     /* last marker written, -1 none */
        double changed;       /* time of the last change */
        int ours;             /* inserted by this run (may be deleted) */
        int gone;
} contact_t;

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_db(MYSQL *db, const char *what)
{
        fprintf(stderr, "latency: %s: %s\n", what, mysql_error(db));
        exit(1);
}

static MYSQL *connect_db(const char *sock, const char *user, const char *pw,
                         const char *name)
{
        MYSQL *db = mysql_init(NULL);
        if (!mysql_real_connect(db, NULL, user, pw, name, 0, sock, 0))
                die_db(db, name);
        return db;
}

static void exec(MYSQL *db, const char *sql)
{
        if (mysql_query(db, sql))
                die_db(db, sql);
}

static int dcmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
        size_t i;
        if (!n)
                return 0;
        i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i < n ? i : n - 1];
}

static void report(const char *label, change_t *ch, size_t n, int kind)
{
        double *v = malloc((n + 1) * sizeof(*v));
        size_t m = 0, total = 0;

        for (size_t i = 0; i < n; i++) {
                if (kind >= 0 && ch[i].kind != kind)
                        continue;
                total++;
                if (ch[i].arrived > 0)
                        v[m++] = (ch[i].arrived - ch[i].committed) * 1000.0;
        }
        qsort(v, m, sizeof(*v), dcmp);
        printf("latency %-7s changes %6zu arrived %6zu  p50 %7.1f ms  p95 %7.1f ms  "
               "p99 %7.1f ms  max %7.1f ms\n", label, total, m,
               pct(v, m, 0.50), pct(v, m, 0.95), pct(v, m, 0.99),
               m ? v[m - 1] : 0.0);
        free(v);
}

int main(int argc, char **argv)
{
        const char *sock = NULL, *user = NULL, *pw = NULL, *child = NULL,
                   *master = NULL;
        int rate = 200, seconds = 60, drain = 30, opt;
        static const struct option lo[] = {
                { "socket", 1, NULL, 's' }, { "user", 1, NULL, 'u' },
                { "password", 1, NULL, 'p' }, { "child", 1, NULL, 'c' },
                { "master", 1, NULL, 'm' }, { "rate", 1, NULL, 'r' },
                { "seconds", 1, NULL, 't' }, { "drain", 1, NULL, 'd' },
                { NULL, 0, NULL, 0 } };
        MYSQL *c, *m;
        MYSQL_RES *res;
        MYSQL_ROW row;
        change_t *ch;
        contact_t *pool;
        long long *by_marker, *del_by_marker, next_marker = 0, last_seq = 0;
        size_t total, n = 0, pool_n = 0, pool_cap, arrived = 0;
        double t0, next_poll, end, load_end;
        char sql[512];
        unsigned seed = 42;

        while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (opt) {
                case 's': sock = optarg; break;
                case 'u': user = optarg; break;
                case 'p': pw = optarg; break;
                case 'c': child = optarg; break;
                case 'm': master = optarg; break;
                case 'r': rate = atoi(optarg); break;
                case 't': seconds = atoi(optarg); break;
                case 'd': drain = atoi(optarg); break;
                default: fprintf(stderr, "latency: bad option\n"); return 2;
                }
        }
        if (!sock || !user || !child || !master || rate < 1 || seconds < 1) {
                fprintf(stderr, "usage: %s --socket S --user U [--password P] "
                        "--child DB --master DB [--rate N] [--seconds N] "
                        "[--drain N]\n", argv[0]);
                return 2;
        }
        total = (size_t)rate * (size_t)seconds;
        ch = calloc(total, sizeof(*ch));
        by_marker = malloc(total * sizeof(*by_marker));
        del_by_marker = malloc(total * sizeof(*del_by_marker));
        c = connect_db(sock, user, pw, child);
        m = connect_db(sock, user, pw, master);
        exec(m, "CREATE TABLE IF NOT EXISTS bench_arrival (seq BIGINT "
             "AUTO_INCREMENT PRIMARY KEY, op CHAR(1) NOT NULL, marker "
             "VARCHAR(255)) ENGINE=InnoDB");
        exec(m, "CREATE OR REPLACE TRIGGER bench_lat_ai AFTER INSERT ON "
             "civicrm_contact FOR EACH ROW INSERT INTO bench_arrival (op, "
             "marker) VALUES ('I', NEW.job_title)");
        exec(m, "CREATE OR REPLACE TRIGGER bench_lat_au AFTER UPDATE ON "
             "civicrm_contact FOR EACH ROW INSERT INTO bench_arrival (op, "
             "marker) VALUES ('U', NEW.job_title)");
        exec(m, "CREATE OR REPLACE TRIGGER bench_lat_ad AFTER DELETE ON "
             "civicrm_contact FOR EACH ROW INSERT INTO bench_arrival (op, "
             "marker) VALUES ('D', OLD.job_title)");
        exec(m, "SELECT COALESCE(MAX(seq), 0) FROM bench_arrival");
        res = mysql_store_result(m);
        row = mysql_fetch_row(res);
        last_seq = atoll(row[0]);
        mysql_free_result(res);

        exec(c, "SELECT id FROM civicrm_contact ORDER BY id");
        res = mysql_store_result(c);
        pool_cap = mysql_num_rows(res) + total + 1;
        pool = calloc(pool_cap, sizeof(*pool));
        while ((row = mysql_fetch_row(res))) {
                pool[pool_n].id = atoll(row[0]);
                pool[pool_n].marker = -1;
                pool_n++;
        }
        mysql_free_result(res);
        for (size_t i = 0; i < total; i++)
                by_marker[i] = del_by_marker[i] = -1;

        t0 = now_s();
        next_poll = t0;
        load_end = t0 + seconds;
        end = load_end + drain;
        for (;;) {
                double t = now_s();
                double due = n < total ? t0 + (double)n / rate : 1e300;

                if (n < total && t >= due) {
                        int r = (int)(rand_r(&seed) % 100);
                        int kind = r < 40 ? K_INS : r < 80 ? K_UPD : K_DEL;
                        contact_t *ct = NULL;

                        if (kind != K_INS) {
                                /* A random eligible contact (a few tries). */
                                for (int tries = 0; tries < 50 && !ct; tries++) {
                                        contact_t *x = &pool[rand_r(&seed) % pool_n];
                                        if (!x->gone && t - x->changed >= REUSE_AFTER_S &&
                                            (kind == K_UPD || (x->ours && x->marker >= 0)))
                                                ct = x;
                                }
                                if (!ct)
                                        kind = K_INS;
                        }
                        if (kind == K_INS) {
                                long long mk = next_marker++;
                                snprintf(sql, sizeof(sql),
                                         "INSERT INTO civicrm_contact (contact_type, "
                                         "first_name, last_name, display_name, "
                                         "sort_name, job_title) VALUES ('Individual', "
                                         "'Lat', 'Ency', 'Lat Ency', 'Ency, Lat', "
                                         "'lat:%lld')", mk);
                                exec(c, sql);
                                ct = &pool[pool_n++];
                                ct->id = (long long)mysql_insert_id(c);
                                ct->ours = 1;
                                ct->marker = mk;
                                by_marker[mk] = (long long)n;
                                ch[n].marker = mk;
                        } else if (kind == K_UPD) {
                                long long mk = next_marker++;
                                snprintf(sql, sizeof(sql), "UPDATE civicrm_contact "
                                         "SET job_title = 'lat:%lld' WHERE id = %lld",
                                         mk, ct->id);
                                exec(c, sql);
                                ct->marker = mk;
                                by_marker[mk] = (long long)n;
                                ch[n].marker = mk;
                        } else {
                                snprintf(sql, sizeof(sql), "DELETE FROM "
                                         "civicrm_contact WHERE id = %lld", ct->id);
                                exec(c, sql);
                                ct->gone = 1;
                                del_by_marker[ct->marker] = (long long)n;
                                ch[n].marker = ct->marker;
                        }
                        ch[n].kind = kind;
                        ch[n].committed = now_s();
                        ct->changed = ch[n].committed;
                        n++;
                        continue;
                }
                if (t >= next_poll) {
                        snprintf(sql, sizeof(sql), "SELECT seq, op, marker FROM "
                                 "bench_arrival WHERE seq > %lld ORDER BY seq",
                                 last_seq);
                        exec(m, sql);
                        res = mysql_store_result(m);
                        t = now_s();
                        while ((row = mysql_fetch_row(res))) {
                                long long mk, idx;
                                last_seq = atoll(row[0]);
                                if (!row[2] || strncmp(row[2], "lat:", 4))
                                        continue;
                                mk = atoll(row[2] + 4);
                                if (mk < 0 || mk >= next_marker)
                                        continue;
                                idx = row[1][0] == 'D' ? del_by_marker[mk] :
                                      by_marker[mk];
                                if (idx >= 0 && ch[idx].arrived == 0) {
                                        ch[idx].arrived = t;
                                        arrived++;
                                }
                        }
                        mysql_free_result(res);
                        next_poll = t + POLL_MS / 1000.0;
                        if ((n == total && arrived == n) || t > end)
                                break;
                        continue;
                }
                {
                        double wake = due < next_poll ? due : next_poll;
                        double d = wake - now_s();
                        if (d > 0)
                                usleep((useconds_t)(d * 1e6));
                }
        }
        printf("latency load: %zu changes in %.1f s (target %d/s for %d s); "
               "%zu arrived, %zu not within %d s after the load\n", n,
               ch[n - 1].committed - t0, rate, seconds, arrived, n - arrived,
               drain);
        report("all", ch, n, -1);
        for (int k = 0; k < K_CNT; k++)
                report(kind_name[k], ch, n, k);
        mysql_close(c);
        mysql_close(m);
        free(ch);
        free(pool);
        free(by_marker);
        free(del_by_marker);
        return 0;
}
