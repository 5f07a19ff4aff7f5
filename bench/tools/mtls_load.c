/*
 * mtls-load: a keep-alive HTTP/1.1-over-mutual-TLS load generator in C (OpenSSL + epoll), one thread.
 *
 * Why: on a 2-core machine the harness's Node load generator spends ~80 us of CPU per request,
 * a quarter of a core at certbound's rate; when the server is not pinned (the `workers` phase of
 * bench/run.sh) it takes that CPU from the server. This one spends a fraction of that, so two
 * workers get closer to two cores. It prints the same JSON line as ../shared/bench/loadgen.mjs
 * (--json), so bench/run.sh's `measure` and report.py read either.
 *
 *   mtls-load --url https://127.0.0.1:9458/token --identities ids.tsv [--method POST]
 *             [--header 'content-type: application/x-www-form-urlencoded'] [--connections 16]
 *             [--duration 10] [--timeout-ms 10000] [--max-error-ratio 0.01] [--label L] [--json]
 *
 * ids.tsv: one identity per line, TAB-separated: certificate chain PEM file, private key PEM file,
 * and optionally the request body. Connection i presents identity i % lines. The server's
 * certificate is not verified (the harness's --insecure): this measures, it does not trust.
 * Closed loop: each connection has one request in flight; a connection that fails is counted
 * (errors_by_type) and reopened after 5 ms. Bounded: stops at --duration, a request that takes
 * longer than --timeout-ms is an error. Exit 0 when at least one request succeeded and the
 * error ratio is at most --max-error-ratio, 1 otherwise, 2 on bad usage.
 *
 * Build: cc -O2 -o mtls-load mtls_load.c -lssl -lcrypto   (bench/run.sh does it; Debian: libssl-dev)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDS 64
#define MAX_CONNS 1024
#define MAX_HEADERS 16
#define RBUF 65536
#define MAX_SAMPLES 50000000u
#define N_KINDS 8

enum state { IDLE, CONNECTING, HANDSHAKE, SENDING, READING };
enum kind { E_CONNECT, E_TLS, E_RESET, E_TIMEOUT, E_PROTOCOL, E_HTTP4, E_HTTP5, E_HTTP_OTHER };
static const char *KIND_NAMES[N_KINDS] = {"connect", "tls", "ECONNRESET", "timeout",
                                          "protocol", "http_4xx", "http_5xx", "http_other"};

struct identity {
  SSL_CTX *ctx;
  char *request;
  size_t request_len;
};

struct conn {
  int fd;
  SSL *ssl;
  enum state state;
  struct identity *id;
  double started, retry_at;
  size_t got;
  char buf[RBUF];
};

static struct identity ids[MAX_IDS];
static int n_ids;
static struct conn *conns;
static int n_conns = 16, epfd;
static uint32_t *samples;
static size_t n_samples, cap_samples;
static uint64_t ok_count, err_count, err_kinds[N_KINDS];
static double deadline;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mtls-load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static char *slurp_line_field(char **cursor) {
  char *start = *cursor, *end = strpbrk(start, "\t\n");
  if (end == NULL) {
    *cursor = start + strlen(start);
    return start;
  }
  *cursor = (*end == '\t') ? end + 1 : end;
  *end = '\0';
  return start;
}

static void load_identities(const char *path, const char *method, const char *host,
                            const char *target, char **headers, int n_headers) {
  FILE *f = fopen(path, "r");
  if (f == NULL) die("cannot read %s: %s", path, strerror(errno));
  char line[8192];
  while (fgets(line, sizeof line, f) != NULL) {
    if (line[0] == '\n' || line[0] == '#') continue;
    if (n_ids == MAX_IDS) die("%s: more than %d identities", path, MAX_IDS);
    line[strcspn(line, "\r\n")] = '\0';
    char *cursor = line;
    char *chain = slurp_line_field(&cursor), *key = slurp_line_field(&cursor);
    char *body = *cursor ? slurp_line_field(&cursor) : NULL;
    if (!*chain || !*key) die("%s: a line needs CHAIN<TAB>KEY[<TAB>BODY]", path);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) die("SSL_CTX_new failed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, chain) != 1) die("cannot load chain %s", chain);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die("cannot load key %s", key);
    if (SSL_CTX_check_private_key(ctx) != 1) die("key %s does not match %s", key, chain);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
    size_t body_len = body ? strlen(body) : 0, cap = 1024 + body_len;
    for (int i = 0; i < n_headers; i++) cap += strlen(headers[i]) + 2;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nhost: %s\r\n", method, target, host);
    for (int i = 0; i < n_headers; i++) n += snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    if (body) n += snprintf(req + n, cap - n, "content-length: %zu\r\n", body_len);
    n += snprintf(req + n, cap - n, "connection: keep-alive\r\n\r\n%s", body ? body : "");
    ids[n_ids++] = (struct identity){ctx, req, (size_t)n};
  }
  fclose(f);
  if (n_ids == 0) die("%s: no identities", path);
}

/* Edge-triggered, both directions, once per connection: OpenSSL wanting to read or to write just
 * means waiting for the next event (tls_wait). */
static void watch(struct conn *c) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void drop(struct conn *c, int kind) {
  if (kind >= 0) {
    err_count++;
    err_kinds[kind]++;
  }
  if (c->ssl) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->ssl = NULL;
  c->fd = -1;
  c->state = IDLE;
  c->retry_at = now_s() + (kind >= 0 ? 0.005 : 0.0);
}

static struct addrinfo *server;

static void open_conn(struct conn *c) {
  c->fd = socket(server->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->started = now_s();
  if (connect(c->fd, server->ai_addr, server->ai_addrlen) != 0 && errno != EINPROGRESS) {
    drop(c, E_CONNECT);
    return;
  }
  c->ssl = SSL_new(c->id->ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_connect_state(c->ssl);
  SSL_set_read_ahead(c->ssl, 1); /* a record in one read(), not header then body */
  c->state = CONNECTING;
  watch(c);
}

/* The response in c->buf[0..got) is complete: return its length, 0 if more is needed, -1 if bad. */
static long response_length(struct conn *c, int *status, int *closes) {
  char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
  if (end == NULL) return c->got == RBUF ? -1 : 0;
  size_t head = (size_t)(end - c->buf) + 4;
  if (c->got < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->buf + 9);
  long length = -1;
  *closes = 0;
  for (char *p = memchr(c->buf, '\n', head); p && p < end;
       p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
    if (strncasecmp(p + 1, "content-length:", 15) == 0) {
      length = strtol(p + 16, NULL, 10);
    } else if (strncasecmp(p + 1, "connection:", 11) == 0) {
      const char *v = p + 12;
      while (*v == ' ') v++;
      *closes = strncasecmp(v, "close", 5) == 0;
    }
  }
  if (length < 0 || head + (size_t)length > RBUF) return -1; /* chunked or too big: not ours */
  return c->got >= head + (size_t)length ? (long)(head + (size_t)length) : 0;
}

static void record(double latency) {
  if (n_samples == cap_samples && cap_samples < MAX_SAMPLES) {
    cap_samples = cap_samples ? cap_samples * 2 : 65536;
    samples = realloc(samples, cap_samples * sizeof *samples);
    if (samples == NULL) die("out of memory");
  }
  if (n_samples < cap_samples) samples[n_samples++] = (uint32_t)(latency * 1e6);
}

static void drive(struct conn *c);

static void start_request(struct conn *c) {
  c->state = SENDING;
  c->got = 0;
  c->started = now_s();
  drive(c);
}

/* 1 when OpenSSL only waits for the socket (the next edge resumes it), 0 on a real failure. */
static int tls_wait(struct conn *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

static void drive(struct conn *c) {
  for (;;) {
    if (c->state == CONNECTING) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return drop(c, E_CONNECT);
      c->state = HANDSHAKE;
    }
    if (c->state == HANDSHAKE) {
      ERR_clear_error();
      int r = SSL_do_handshake(c->ssl);
      if (r != 1) {
        if (!tls_wait(c, r)) drop(c, E_TLS);
        return;
      }
      if (now_s() >= deadline) return drop(c, -1);
      return start_request(c);
    }
    if (c->state == SENDING) {
      ERR_clear_error();
      int r = SSL_write(c->ssl, c->id->request, (int)c->id->request_len);
      if (r <= 0) {
        if (!tls_wait(c, r)) drop(c, E_RESET);
        return;
      }
      c->state = READING;
      return; /* the response arrives as a new edge: no read() that can only say EAGAIN */
    }
    if (c->state == READING) {
      ERR_clear_error();
      int r = SSL_read(c->ssl, c->buf + c->got, (int)(RBUF - c->got));
      if (r <= 0) {
        if (!tls_wait(c, r)) drop(c, E_RESET);
        return;
      }
      c->got += (size_t)r;
      int status = 0, closes = 0;
      long length = response_length(c, &status, &closes);
      if (length == 0) continue;
      if (length < 0 || (size_t)length != c->got) return drop(c, E_PROTOCOL);
      double t = now_s();
      if (t >= deadline) {
        /* finished after the measured window: not counted */
      } else if (status >= 200 && status < 300) {
        ok_count++;
        record(t - c->started);
      } else {
        err_count++;
        err_kinds[status >= 500 ? E_HTTP5 : status >= 400 ? E_HTTP4 : E_HTTP_OTHER]++;
      }
      if (closes || t >= deadline) return drop(c, -1);
      return start_request(c);
    }
    return;
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static double pct_ms(double p) {
  if (n_samples == 0) return 0;
  size_t i = (size_t)(p / 100.0 * (double)(n_samples - 1) + 0.5);
  return samples[i] / 1000.0;
}

int main(int argc, char **argv) {
  const char *url = NULL, *id_file = NULL, *method = "POST", *label = "mtls-load";
  char *headers[MAX_HEADERS];
  int n_headers = 0, json = 0;
  double duration = 10, timeout_s = 10, max_err = 0.01;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--json") == 0) { json = 1; continue; }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      puts("usage: mtls-load --url https://HOST:PORT/PATH --identities FILE [--method M] [--header 'K: V']...\n"
           "                 [--connections 16] [--duration 10] [--timeout-ms 10000]\n"
           "                 [--max-error-ratio 0.01] [--label L] [--json]\n"
           "FILE: one identity per line: CHAIN<TAB>KEY[<TAB>BODY] (PEM files). See bench/README.md.");
      return 0;
    }
    static const char *const VALUED[] = {"--url", "--identities", "--method", "--label",
                                         "--connections", "--duration", "--timeout-ms",
                                         "--max-error-ratio", "--header"};
    int known = 0;
    for (size_t k = 0; k < sizeof VALUED / sizeof *VALUED; k++) known |= strcmp(a, VALUED[k]) == 0;
    if (!known) die("unknown option %s (see --help)", a);
    if (v == NULL) die("%s needs a value", a);
    i++;
    if (strcmp(a, "--url") == 0) url = v;
    else if (strcmp(a, "--identities") == 0) id_file = v;
    else if (strcmp(a, "--method") == 0) method = v;
    else if (strcmp(a, "--label") == 0) label = v;
    else if (strcmp(a, "--connections") == 0) n_conns = atoi(v);
    else if (strcmp(a, "--duration") == 0) duration = atof(v);
    else if (strcmp(a, "--timeout-ms") == 0) timeout_s = atof(v) / 1000.0;
    else if (strcmp(a, "--max-error-ratio") == 0) max_err = atof(v);
    else if (strcmp(a, "--header") == 0) {
      if (n_headers == MAX_HEADERS) die("at most %d --header", MAX_HEADERS);
      headers[n_headers++] = (char *)v;
    }
  }
  if (url == NULL || id_file == NULL) die("--url and --identities are required");
  if (n_conns < 1 || n_conns > MAX_CONNS) die("--connections must be 1..%d", MAX_CONNS);
  if (!(duration > 0 && duration <= 3600)) die("--duration must be in (0, 3600] seconds");
  if (!(timeout_s > 0)) die("--timeout-ms must be positive");
  if (strncmp(url, "https://", 8) != 0) die("--url must be https://HOST:PORT/PATH");
  char host[256], port[16];
  const char *authority = url + 8, *slash = strchr(authority, '/');
  const char *target = slash ? slash : "/";
  size_t alen = slash ? (size_t)(slash - authority) : strlen(authority);
  const char *colon = memchr(authority, ':', alen);
  if (colon == NULL || (size_t)(colon - authority) >= sizeof host || alen - (colon - authority) > sizeof port)
    die("--url must name a port: https://HOST:PORT/PATH");
  snprintf(host, sizeof host, "%.*s", (int)(colon - authority), authority);
  snprintf(port, sizeof port, "%.*s", (int)(alen - (colon - authority) - 1), colon + 1);
  char host_header[300];
  snprintf(host_header, sizeof host_header, "%.*s", (int)alen, authority);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  if (getaddrinfo(host, port, &hints, &server) != 0) die("cannot resolve %s:%s", host, port);
  load_identities(id_file, method, host_header, target, headers, n_headers);

  signal(SIGPIPE, SIG_IGN); /* a write to a connection the server closed is an error, not death */
  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc((size_t)n_conns, sizeof *conns);
  double t0 = now_s(), c0 = cpu_s();
  deadline = t0 + duration;
  for (int i = 0; i < n_conns; i++) {
    conns[i].fd = -1;
    conns[i].id = &ids[i % n_ids];
    open_conn(&conns[i]);
  }
  struct epoll_event events[MAX_CONNS];
  for (;;) {
    double t = now_s();
    int open = 0;
    for (int i = 0; i < n_conns; i++) {
      struct conn *c = &conns[i];
      if (c->state == IDLE) {
        if (t < deadline && t >= c->retry_at) open_conn(c);
      } else if (t - c->started > timeout_s) {
        drop(c, E_TIMEOUT);
      }
      open += conns[i].state != IDLE;
    }
    if (t >= deadline + timeout_s || (t >= deadline && open == 0)) break;
    int n = epoll_wait(epfd, events, MAX_CONNS, 5);
    for (int i = 0; i < n; i++) drive(events[i].data.ptr);
  }
  double elapsed = now_s() - t0, cpu = cpu_s() - c0;
  for (int i = 0; i < n_conns; i++)
    if (conns[i].state != IDLE) drop(&conns[i], -1);
  if (n_samples) qsort(samples, n_samples, sizeof *samples, cmp_u32);
  double mean = 0;
  for (size_t i = 0; i < n_samples; i++) mean += samples[i];
  mean = n_samples ? mean / (double)n_samples / 1000.0 : 0;
  double rps = (double)ok_count / duration;
  if (json) {
    printf("{\"label\":\"%s\",\"url\":\"%s\",\"mode\":\"keepalive\",\"engine\":\"mtls-load\","
           "\"connections\":%d,\"clients\":%d,\"duration_s\":%.3f,\"requests_ok\":%llu,"
           "\"errors\":%llu,\"errors_by_type\":{",
           label, url, n_conns, n_ids, duration,
           (unsigned long long)ok_count, (unsigned long long)err_count);
    for (int k = 0, first = 1; k < N_KINDS; k++)
      if (err_kinds[k]) {
        printf("%s\"%s\":%llu", first ? "" : ",", KIND_NAMES[k], (unsigned long long)err_kinds[k]);
        first = 0;
      }
    printf("},\"rps\":%.1f,", rps);
    if (n_samples)
      printf("\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
             pct_ms(50), pct_ms(90), pct_ms(99), samples[n_samples - 1] / 1000.0, mean);
    else
      printf("\"latency_ms\":null,");
    printf("\"client_cpu_s\":%.3f,\"client_cpu_pct\":%.1f,\"versions\":{\"openssl\":\"%s\"}}\n",
           cpu, 100.0 * cpu / elapsed, OpenSSL_version(OPENSSL_VERSION));
  } else {
    printf("%s c=%d %.1fs: %llu ok, %llu errors\n  %.1f req/s  p50 %.3f ms  p99 %.3f ms  "
           "client CPU %.1f%% of one core\n",
           url, n_conns, elapsed, (unsigned long long)ok_count, (unsigned long long)err_count, rps,
           pct_ms(50), pct_ms(99), 100.0 * cpu / elapsed);
  }
  uint64_t total = ok_count + err_count;
  return ok_count > 0 && (double)err_count <= max_err * (double)(total ? total : 1) ? 0 : 1;
}
