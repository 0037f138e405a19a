/*
 * bench/loadgen.c: the benchmark suite's load generator (bench-only; built by
 * bench/harness.py with `cc -O2` into a temporary directory, never installed).
 *
 * One epoll loop, one thread, non-blocking sockets, connecting to
 * 127.0.0.1:PORT only.  Every connection reads to EOF; a poem counts as
 * served when the connection ends cleanly (read() returns 0) after exactly
 * --expect bytes, and as a failure otherwise (refused, reset, short, long,
 * timed out).  Results are printed as one JSON object on stdout.
 *
 *   loadgen fast --port P --expect LEN --conns K (--duration S | --total N)
 *       keeps K connections in flight; reports poems/s and the latency of
 *       each poem from just before connect() to EOF.  A listen-queue overflow
 *       on the server costs a client a SYN retry (1 s, then 3 s ...), so the
 *       count of poems slower than 0.9 s ("stalls") shows it.
 *
 *   loadgen slow --port P --expect LEN --clients C --chunk B --delay D
 *       opens C connections (at most --window of them waiting for their
 *       first byte at any moment, so the server's accept queue never
 *       overflows) and holds them all open at once, recording when each
 *       B-byte chunk arrives.  A client's lateness is the largest, over its
 *       chunks, of (arrival - (connect start + k * D)); its duration is
 *       connect start to EOF, against the ideal (LEN/B - 1) * D.
 *
 * The generator reports its own CPU time (getrusage) so the harness can tell
 * when it, rather than the server, is the bottleneck.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_FREE = 0, ST_OPEN = 1 };

struct conn {
    int state;
    int first;          /* slow mode: first byte seen */
    long bytes;
    double start;
    int idx;            /* slow mode: client index */
};

struct slowrec {
    double start, end;
    double *chunk;      /* arrival time of each chunk (when bytes reach (k+1)*B) */
    int nchunk;
    int ok;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, long n, double p) {
    if (n <= 0) return -1;
    long i = (long)(p * (n - 1) + 0.5);
    if (i >= n) i = n - 1;
    return v[i];
}

/* --- options --- */
static const char *mode;
static int port;
static long expect = -1;
static int conns = 64;
static double duration = 0;
static long total = 0;
static long clients = 100;
static long chunk = 16;
static double delay = 0.5;
static long window = 256;
static double timeout_s = 30;
static const char *dump_path;

static struct conn *tab;
static int tabsize;
static int ep;
static struct sockaddr_in addr;

/* counters */
static long started, done_ok, fail_refused, fail_reset, fail_short,
    fail_long, fail_timeout, fail_connect, fail_other;
static long long bytes_total;
static long inflight, pending_first;

static double *lat;
static long nlat, caplat;

static void add_lat(double v) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) { perror("realloc"); exit(2); }
    }
    lat[nlat++] = v;
}

static int open_conn(int idx) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_connect++;
        return -1;
    }
    if (fd >= tabsize) {
        close(fd);
        fail_connect++;
        return -1;
    }
    double t = now();
    int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    if (r < 0 && errno != EINPROGRESS) {
        if (errno == ECONNREFUSED) fail_refused++;
        else fail_connect++;
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        fail_other++;
        return -1;
    }
    struct conn *c = &tab[fd];
    c->state = ST_OPEN;
    c->first = 0;
    c->bytes = 0;
    c->start = t;
    c->idx = idx;
    started++;
    inflight++;
    pending_first++;
    return fd;
}

static int rst_close;

static void close_conn(int fd) {
    struct conn *c = &tab[fd];
    if (!c->first) pending_first--;
    if (rst_close) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    c->state = ST_FREE;
    inflight--;
    close(fd);
}

static struct slowrec *recs;

/* Read what is there.  Returns 1 when the connection has finished. */
static int service(int fd, uint32_t events, double *t_end, int *ok) {
    static char buf[65536];
    struct conn *c = &tab[fd];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            double t = (recs || !c->first) ? now() : 0;
            if (!c->first) {
                c->first = 1;
                pending_first--;
            }
            if (recs) {
                struct slowrec *r = &recs[c->idx];
                long before = c->bytes, after = before + n;
                for (long k = before / chunk; k < r->nchunk && (k + 1) * chunk <= after; k++)
                    r->chunk[k] = t;
            }
            c->bytes += n;
            bytes_total += n;
            if (c->bytes > expect) {
                fail_long++;
                *ok = 0;
                *t_end = now();
                return 1;
            }
            /* EPOLLRDHUP seen and a short read: the FIN is already queued
             * behind this data, so this was the last of it. */
            if ((events & EPOLLRDHUP) && (size_t)n < sizeof buf) {
                *t_end = now();
                if (c->bytes == expect) { *ok = 1; } else { fail_short++; *ok = 0; }
                return 1;
            }
            continue;
        }
        if (n == 0) {
            *t_end = now();
            if (c->bytes == expect) { *ok = 1; } else { fail_short++; *ok = 0; }
            return 1;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (events & (EPOLLERR | EPOLLHUP)) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == ECONNREFUSED) fail_refused++;
                else if (err == ECONNRESET) fail_reset++;
                else fail_other++;
                *ok = 0;
                *t_end = now();
                return 1;
            }
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED) fail_refused++;
        else if (errno == ECONNRESET) fail_reset++;
        else fail_other++;
        *ok = 0;
        *t_end = now();
        return 1;
    }
}

static void expire(double t) {
    for (int fd = 0; fd < tabsize; fd++) {
        if (tab[fd].state == ST_OPEN && t - tab[fd].start > timeout_s) {
            fail_timeout++;
            close_conn(fd);
        }
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen fast|slow --port P --expect LEN [--conns K] [--duration S] "
            "[--total N] [--clients C] [--chunk B] [--delay D] [--window W] "
            "[--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--expect")) expect = atol(v);
        else if (!strcmp(a, "--conns")) conns = atoi(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--total")) total = atol(v);
        else if (!strcmp(a, "--clients")) clients = atol(v);
        else if (!strcmp(a, "--chunk")) chunk = atol(v);
        else if (!strcmp(a, "--delay")) delay = atof(v);
        else if (!strcmp(a, "--window")) window = atol(v);
        else if (!strcmp(a, "--timeout")) timeout_s = atof(v);
        else if (!strcmp(a, "--rst")) rst_close = atoi(v);
        else if (!strcmp(a, "--dump")) dump_path = v;
        else usage();
    }
    int slow = !strcmp(mode, "slow");
    if ((!slow && strcmp(mode, "fast")) || port <= 0 || expect < 0) usage();
    if (!slow && duration <= 0 && total <= 0) usage();

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    tabsize = (int)(rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur);
    tab = calloc(tabsize, sizeof *tab);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[1024];

    double cpu0 = cpu_self();
    double t0 = now();
    double last_end = t0, last_check = t0;
    double hard_deadline;

    if (!slow) {
        hard_deadline = t0 + (duration > 0 ? duration : 3600) + timeout_s + 5;
        for (int i = 0; i < conns; i++) {
            if (total > 0 && started >= total) break;
            open_conn(0);
        }
        while (inflight > 0) {
            double t = now();
            if (t > hard_deadline) break;
            int n = epoll_wait(ep, evs, 1024, 100);
            if (n < 0 && errno != EINTR) { perror("epoll_wait"); break; }
            for (int i = 0; i < n; i++) {
                int fd = evs[i].data.fd, ok = 0;
                double t_end = 0;
                if (!service(fd, evs[i].events, &t_end, &ok)) continue;
                double start = tab[fd].start;
                close_conn(fd);
                if (ok) {
                    done_ok++;
                    add_lat(t_end - start);
                    last_end = t_end;
                }
                int more = duration > 0 ? (t_end - t0 < duration) : (started < total);
                /* retry failed synchronous connects a few times, not forever */
                for (int tries = 0; more && tries < 3; tries++) {
                    if (open_conn(0) >= 0) break;
                    if (duration > 0 && now() - t0 >= duration) break;
                    usleep(1000);
                }
            }
            /* top up after synchronous connect failures */
            t = now();
            while (inflight < conns && (duration > 0 ? t - t0 < duration : started < total)) {
                if (open_conn(0) < 0) { usleep(1000); break; }
            }
            if (t - last_check > 0.5) { expire(t); last_check = t; }
        }
        double elapsed = last_end - t0;
        double cpu = cpu_self() - cpu0;
        double wall = now() - t0;
        qsort(lat, nlat, sizeof *lat, cmpd);
        long stalls = 0;
        for (long i = 0; i < nlat; i++) if (lat[i] >= 0.9) stalls++;
        long failures = fail_refused + fail_reset + fail_short + fail_long +
                        fail_timeout + fail_connect + fail_other + inflight;
        printf("{\"mode\":\"fast\",\"conns\":%d,\"poems\":%ld,\"failures\":%ld,"
               "\"refused\":%ld,\"reset\":%ld,\"short\":%ld,\"long\":%ld,\"timeout\":%ld,"
               "\"connect_errors\":%ld,\"other\":%ld,\"unfinished\":%ld,\"bytes\":%lld,"
               "\"elapsed\":%.6f,\"wall\":%.6f,\"poems_per_s\":%.3f,"
               "\"lat_p50\":%.6f,\"lat_p90\":%.6f,\"lat_p99\":%.6f,\"lat_p999\":%.6f,"
               "\"lat_max\":%.6f,\"stalls\":%ld,\"cpu\":%.6f,\"cpu_frac\":%.4f}\n",
               conns, done_ok, failures, fail_refused, fail_reset, fail_short,
               fail_long, fail_timeout, fail_connect, fail_other, inflight, bytes_total,
               elapsed, wall, elapsed > 0 ? done_ok / elapsed : 0.0,
               pct(lat, nlat, 0.5), pct(lat, nlat, 0.9), pct(lat, nlat, 0.99),
               pct(lat, nlat, 0.999), nlat ? lat[nlat - 1] : -1.0, stalls, cpu,
               wall > 0 ? cpu / wall : 0.0);
        return 0;
    }

    /* ---- slow mode ---- */
    int nchunk = (int)((expect + chunk - 1) / chunk);
    double ideal = (nchunk - 1) * delay;
    recs = calloc(clients, sizeof *recs);
    double *chunkmem = calloc((size_t)clients * nchunk, sizeof(double));
    for (long i = 0; i < clients; i++) {
        recs[i].chunk = chunkmem + (size_t)i * nchunk;
        recs[i].nchunk = nchunk;
    }
    long next = 0, finished = 0;
    double ramp_end = -1;
    hard_deadline = t0 + timeout_s + ideal + 60;
    while (finished < clients) {
        double t = now();
        if (t > hard_deadline) break;
        while (next < clients && pending_first < window) {
            recs[next].start = now();
            if (open_conn((int)next) < 0) {
                recs[next].ok = 0;
                recs[next].end = now();
                finished++;
            }
            next++;
        }
        if (next == clients && pending_first == 0 && ramp_end < 0) ramp_end = now();
        if (inflight == 0 && next == clients) break;
        int n = epoll_wait(ep, evs, 1024, 20);
        if (n < 0 && errno != EINTR) { perror("epoll_wait"); break; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, ok = 0;
            double t_end = 0;
            if (!service(fd, evs[i].events, &t_end, &ok)) continue;
            struct slowrec *r = &recs[tab[fd].idx];
            r->ok = ok;
            r->end = t_end;
            close_conn(fd);
            finished++;
            if (ok) done_ok++;
        }
        t = now();
        if (t - last_check > 0.5) {
            for (int fd = 0; fd < tabsize; fd++) {
                if (tab[fd].state == ST_OPEN && t - tab[fd].start > timeout_s + ideal) {
                    fail_timeout++;
                    recs[tab[fd].idx].ok = 0;
                    recs[tab[fd].idx].end = t;
                    close_conn(fd);
                    finished++;
                }
            }
            last_check = t;
        }
    }
    double t_all = now();
    double cpu = cpu_self() - cpu0;
    if (dump_path) {
        /* one line per client: start, then each chunk's arrival, then EOF,
         * in seconds since the first connect */
        FILE *f = fopen(dump_path, "w");
        if (f) {
            for (long i = 0; i < clients; i++) {
                fprintf(f, "%d %.6f", recs[i].ok, recs[i].start - t0);
                for (int k = 0; k < nchunk; k++) fprintf(f, " %.6f", recs[i].chunk[k] - t0);
                fprintf(f, " %.6f\n", recs[i].end - t0);
            }
            fclose(f);
        }
    }
    double *late = malloc(clients * sizeof *late);
    double *drift = malloc(clients * sizeof *drift);
    double *dur = malloc(clients * sizeof *dur);
    long nok = 0;
    double first_start = recs[0].start, last_start = recs[clients - 1].start, last_eof = t0;
    for (long i = 0; i < clients; i++) {
        struct slowrec *r = &recs[i];
        if (!r->ok) continue;
        double worst = -1e9;
        for (int k = 0; k < nchunk; k++) {
            double l = r->chunk[k] - (r->start + k * delay);
            if (l > worst) worst = l;
        }
        late[nok] = worst;
        drift[nok] = (r->chunk[nchunk - 1] - r->chunk[0]) - ideal;
        dur[nok] = r->end - r->start;
        if (r->end > last_eof) last_eof = r->end;
        nok++;
    }
    qsort(late, nok, sizeof *late, cmpd);
    qsort(drift, nok, sizeof *drift, cmpd);
    qsort(dur, nok, sizeof *dur, cmpd);
    long failures = clients - done_ok;
    printf("{\"mode\":\"slow\",\"clients\":%ld,\"poems\":%ld,\"failures\":%ld,"
           "\"refused\":%ld,\"reset\":%ld,\"short\":%ld,\"long\":%ld,\"timeout\":%ld,"
           "\"connect_errors\":%ld,\"other\":%ld,\"unfinished\":%ld,\"bytes\":%lld,"
           "\"chunks\":%lld,\"ideal\":%.6f,\"ramp\":%.6f,\"span\":%.6f,"
           "\"dur_p50\":%.6f,\"dur_p99\":%.6f,\"dur_max\":%.6f,"
           "\"late_p50\":%.6f,\"late_p99\":%.6f,\"late_max\":%.6f,"
           "\"drift_p50\":%.6f,\"drift_p99\":%.6f,\"drift_max\":%.6f,"
           "\"wall\":%.6f,\"cpu\":%.6f,\"cpu_frac\":%.4f}\n",
           clients, done_ok, failures, fail_refused, fail_reset, fail_short, fail_long,
           fail_timeout, fail_connect, fail_other, inflight, bytes_total,
           bytes_total / chunk, ideal, ramp_end > 0 ? ramp_end - first_start : -1.0,
           last_eof - first_start,
           pct(dur, nok, 0.5), pct(dur, nok, 0.99), nok ? dur[nok - 1] : -1.0,
           pct(late, nok, 0.5), pct(late, nok, 0.99), nok ? late[nok - 1] : -1.0,
           pct(drift, nok, 0.5), pct(drift, nok, 0.99), nok ? drift[nok - 1] : -1.0,
           t_all - t0, cpu, (t_all - t0) > 0 ? cpu / (t_all - t0) : 0.0);
    (void)last_start;
    return 0;
}
