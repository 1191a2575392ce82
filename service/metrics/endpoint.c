/*
 * endpoint.c - see endpoint.h.
 *
 * Every socket is non-blocking and every wait is a poll() on the socket and
 * on the stop pipe together, so metrics_endpoint_stop() never waits for a
 * client, and a client never holds the thread past its deadline.
 */
#include "metrics/endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "metrics/metrics.h"

#define ACCEPT_PAUSE_NS 100000000 /* 100 ms */

struct metrics_endpoint {
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
};

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port text; the port must
 * be a whole number from 0 to 65535. */
static int split_listen(const char *addr, char *host, size_t hsize, char port[6], mb_error *err)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen = colon != NULL ? (size_t)(colon - addr) : 0;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
        h++, hlen -= 2;
    const char *p = colon != NULL ? colon + 1 : "";
    size_t plen = strlen(p);
    bool digits = plen > 0 && plen <= 5 && strspn(p, "0123456789") == plen;
    if (colon == NULL || hlen == 0 || hlen >= hsize || !digits || atol(p) > 65535)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "--metrics-listen: must be HOST:PORT with a port from 0 to 65535");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

static int open_listener(const char *addr, int *fd_out, int *port, mb_error *err)
{
    char host[256], ports[6];
    if (split_listen(addr, host, sizeof host, ports, err) != 0)
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "--metrics-listen: cannot resolve %s: %s", host, gai_strerror(rc));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        int one = 1;
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                        bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 16) != 0)) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE,
                            "--metrics-listen: cannot listen on %s: %s", addr,
                            strerror(saved != 0 ? saved : errno));
    }
    *port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return 0;
}

/* Waits until fd is ready for events or the stop pipe is readable: 1 ready,
 * 0 deadline passed or stopping, -1 error. fd -1: a pause that stopping
 * cuts short. */
static int wait_fd(const metrics_endpoint_t *ep, int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        int timeout = -1; /* INT64_MAX: no deadline */
        if (deadline_ns != INT64_MAX) {
            int64_t left_ms = (deadline_ns - mb_mono_ns()) / 1000000;
            if (left_ms <= 0)
                return 0;
            timeout = (int)left_ms; /* at most METRICS_IO_TIMEOUT_MS */
        }
        struct pollfd p[2] = {{.fd = fd, .events = events},
                              {.fd = ep->stop_pipe[0], .events = POLLIN}};
        int n = poll(p, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (p[1].revents != 0)
            return 0;
        if (p[0].revents != 0)
            return 1;
    }
}

static void send_all(const metrics_endpoint_t *ep, int fd, const char *p, size_t len,
                     int64_t deadline_ns)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return;
        } else if (n < 0 && errno == EAGAIN && wait_fd(ep, fd, POLLOUT, deadline_ns) != 1) {
            return;
        }
    }
}

static void respond(const metrics_endpoint_t *ep, int fd, const char *status, const char *extra,
                    const char *body, size_t len, int64_t deadline_ns)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     status,
                     body != NULL ? "text/plain; version=0.0.4; charset=utf-8"
                                  : "text/plain; charset=utf-8",
                     body != NULL ? len : strlen(status) + 1, extra);
    send_all(ep, fd, head, (size_t)n, deadline_ns);
    if (body != NULL) {
        send_all(ep, fd, body, len, deadline_ns);
    } else { /* an error: its status line is the body */
        send_all(ep, fd, status, strlen(status), deadline_ns);
        send_all(ep, fd, "\n", 1, deadline_ns);
    }
}

/* Reads the request head (up to the blank line) into buf: its length, 0
 * when the client was too slow, closed or the endpoint stops, -1 when it
 * does not fit. */
static ssize_t read_head(const metrics_endpoint_t *ep, int fd, char *buf, size_t size,
                         int64_t deadline_ns)
{
    size_t have = 0;
    while (have < size - 1) {
        ssize_t n = recv(fd, buf + have, size - 1 - have, 0);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN || wait_fd(ep, fd, POLLIN, deadline_ns) != 1)
                return 0;
            continue;
        }
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (ssize_t)have;
    }
    return -1;
}

static void serve_one(const metrics_endpoint_t *ep, int fd)
{
    int64_t deadline = mb_mono_ns() + (int64_t)METRICS_IO_TIMEOUT_MS * 1000000;
    char buf[METRICS_REQUEST_MAX + 1];
    ssize_t n = read_head(ep, fd, buf, sizeof buf, deadline);
    if (n == 0)
        return;
    if (n < 0) {
        respond(ep, fd, "431 Request Header Fields Too Large", "", NULL, 0, deadline);
        return;
    }
    /* The answer has a timeout of its own, however long the request took. */
    deadline = mb_mono_ns() + (int64_t)METRICS_IO_TIMEOUT_MS * 1000000;
    /* The request line: METHOD SP TARGET SP HTTP/1.x */
    char method[16], target[256], version[16];
    const char *line_end = strpbrk(buf, "\r\n");
    size_t line_len = (size_t)(line_end - buf);
    const char *sp1 = memchr(buf, ' ', line_len);
    const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', line_len - (size_t)(sp1 + 1 - buf)) : NULL;
    size_t mlen = sp1 != NULL ? (size_t)(sp1 - buf) : 0;
    size_t tlen = sp2 != NULL ? (size_t)(sp2 - sp1 - 1) : 0;
    size_t vlen = sp2 != NULL ? (size_t)(line_end - sp2 - 1) : 0;
    if (mlen == 0 || mlen >= sizeof method || tlen == 0 || tlen >= sizeof target ||
        vlen >= sizeof version || vlen < 8) {
        respond(ep, fd, "400 Bad Request", "", NULL, 0, deadline);
        return;
    }
    memcpy(method, buf, mlen);
    method[mlen] = '\0';
    memcpy(target, sp1 + 1, tlen);
    target[tlen] = '\0';
    memcpy(version, sp2 + 1, vlen);
    version[vlen] = '\0';
    if (strncmp(version, "HTTP/1.", 7) != 0 || target[0] != '/') {
        respond(ep, fd, "400 Bad Request", "", NULL, 0, deadline);
        return;
    }
    size_t path_len = strcspn(target, "?");
    if (path_len != 8 || memcmp(target, "/metrics", 8) != 0) {
        respond(ep, fd, "404 Not Found", "", NULL, 0, deadline);
        return;
    }
    if (strcmp(method, "GET") != 0) {
        respond(ep, fd, "405 Method Not Allowed", "Allow: GET\r\n", NULL, 0, deadline);
        return;
    }
    size_t len = 0;
    char *body = metrics_render(&len);
    if (body == NULL)
        respond(ep, fd, "503 Service Unavailable", "", NULL, 0, deadline);
    else
        respond(ep, fd, "200 OK", "", body, len, deadline);
    free(body);
}

static void *endpoint_main(void *arg)
{
    metrics_endpoint_t *ep = arg;
    pthread_setname_np(pthread_self(), "mb-metrics");
    for (;;) {
        if (wait_fd(ep, ep->listen_fd, POLLIN, INT64_MAX) != 1)
            break; /* stopping */
        int fd = accept4(ep->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* Out of descriptors or memory leaves the connection waiting,
             * and the listener readable: pause rather than spin. */
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                wait_fd(ep, -1, 0, mb_mono_ns() + ACCEPT_PAUSE_NS);
            continue;
        }
        serve_one(ep, fd);
        close(fd);
    }
    return NULL;
}

int metrics_endpoint_start(const char *addr, metrics_endpoint_t **out, int *port, mb_error *err)
{
    metrics_endpoint_t *ep = calloc(1, sizeof *ep);
    if (ep == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "out of memory for the metrics endpoint");
    ep->listen_fd = ep->stop_pipe[0] = ep->stop_pipe[1] = -1;
    if (open_listener(addr, &ep->listen_fd, port, err) != 0)
        goto fail;
    if (pipe2(ep->stop_pipe, O_CLOEXEC) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "metrics endpoint: pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&ep->thread, NULL, endpoint_main, ep) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "metrics endpoint: cannot start its thread");
        goto fail;
    }
    *out = ep;
    return 0;
fail:
    for (int i = 0; i < 2; i++)
        if (ep->stop_pipe[i] >= 0)
            close(ep->stop_pipe[i]);
    if (ep->listen_fd >= 0)
        close(ep->listen_fd);
    free(ep);
    return -1;
}

void metrics_endpoint_stop(metrics_endpoint_t *ep)
{
    if (ep == NULL)
        return;
    ssize_t w = write(ep->stop_pipe[1], "x", 1);
    (void)w; /* a full pipe is already a stop signal */
    pthread_join(ep->thread, NULL);
    close(ep->stop_pipe[0]);
    close(ep->stop_pipe[1]);
    close(ep->listen_fd);
    free(ep);
}
