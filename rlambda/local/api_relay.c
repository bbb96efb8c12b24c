/* rlambda-relay: the only way in or out of a Lambda-like container with no network.
 *
 *   rlambda-relay [-e] LISTEN TARGET -- COMMAND [ARG...]
 *
 * LISTEN and TARGET are tcp:A.B.C.D:PORT or unix:PATH. The relay listens on LISTEN, forks a
 * child that passes every connection on to TARGET (both ways, half-closes included), and
 * execs COMMAND in its own place: the function's process keeps the container's PID 1, its
 * signals and its exit status. The child dies with it (PID 1 exiting ends the namespace;
 * PR_SET_PDEATHSIG besides). The listener exists before COMMAND starts, so its first connect
 * cannot be refused.
 *
 * -e: if COMMAND cannot be executed, report Runtime.InvalidEntrypoint to the Runtime API at
 * TARGET (POST /2018-06-01/runtime/init/error, as Lambda reports a failed exec), then exit
 * 127 (not found) or 126 (any other reason), the shell's codes.
 *
 * Why hand-written: socat is in neither the function images nor AWS's bases; this is built
 * statically (gcc -static, libc only) by rlambda/local/api_relay.py and runs in any image.
 * One process, poll(): a runtime holds one or two keep-alive connections.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_PAIRS 480 /* two descriptors each, within Lambda's 1,024 */

struct addr {
    struct sockaddr_storage sa;
    socklen_t len;
    int tcp;
    const char *text;
};

struct direction { /* bytes read from one side, not yet written to the other */
    char *buf;
    size_t off, len;
    int eof; /* the source has no more to send */
};

struct pair {
    int fd[2];                /* 0: the accepted connection, 1: the one to TARGET */
    struct direction dir[2];  /* dir[i] carries fd[i] -> fd[1 - i] */
};

static void die(const char *what) {
    fprintf(stderr, "rlambda-relay: %s: %s\n", what, strerror(errno));
    exit(111);
}

static void parse_addr(const char *text, struct addr *out) {
    memset(out, 0, sizeof(*out));
    out->text = text;
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        if (strlen(text + 5) >= sizeof(un->sun_path)) goto bad;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, text + 5);
        out->len = sizeof(*un);
        return;
    }
    if (strncmp(text, "tcp:", 4) == 0) {
        char host[64];
        const char *colon = strrchr(text + 4, ':');
        struct sockaddr_in *in = (struct sockaddr_in *)&out->sa;
        if (!colon || (size_t)(colon - text - 4) >= sizeof(host)) goto bad;
        memcpy(host, text + 4, colon - text - 4);
        host[colon - text - 4] = 0;
        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1 || !in->sin_port) goto bad;
        out->len = sizeof(*in);
        out->tcp = 1;
        return;
    }
bad:
    fprintf(stderr, "rlambda-relay: bad address %s (tcp:A.B.C.D:PORT or unix:PATH)\n", text);
    exit(111);
}

static void nodelay(int fd, const struct addr *a) {
    int one = 1;
    /* The emulator's answers leave as headers and body: Nagle against delayed ACKs would
     * hold the second part ~40 ms (measured on the first relay: warm p99 45 ms without). */
    if (a->tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int listen_on(const struct addr *a) {
    int one = 1;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (a->tcp) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    } else {
        unlink(((struct sockaddr_un *)&a->sa)->sun_path);
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) die(a->text);
    /* The host side (another user) connects to a Unix socket made here. */
    if (!a->tcp && chmod(((struct sockaddr_un *)&a->sa)->sun_path, 0666) < 0) die("chmod");
    if (listen(fd, 128) < 0) die("listen");
    return fd;
}

static int connect_to(const struct addr *a) {
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
        close(fd);
        return -1;
    }
    nodelay(fd, a);
    return fd;
}

static void close_pair(struct pair *p) {
    close(p->fd[0]);
    close(p->fd[1]);
    free(p->dir[0].buf);
    free(p->dir[1].buf);
    p->fd[0] = p->fd[1] = -1;
}

/* Write what dir[i] holds to fd[1 - i]; pass its end on once all is written. 0: pair broken. */
static int flush(struct pair *p, int i) {
    struct direction *d = &p->dir[i];
    while (d->off < d->len) {
        ssize_t n = send(p->fd[1 - i], d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
        d->off += (size_t)n;
    }
    d->off = d->len = 0;
    if (d->eof == 1) {
        shutdown(p->fd[1 - i], SHUT_WR);
        d->eof = 2; /* passed on */
    }
    return 1;
}

/* Read from fd[i] into dir[i] and pass it on. 0: pair broken. */
static int fill(struct pair *p, int i) {
    struct direction *d = &p->dir[i];
    ssize_t n = recv(p->fd[i], d->buf, BUF_SIZE, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 1 : 0;
    if (n == 0) d->eof = 1;
    d->off = 0;
    d->len = (size_t)n;
    return flush(p, i);
}

static void relay(int listener, const struct addr *target, struct addr *listen_addr) {
    static struct pair pairs[MAX_PAIRS];
    static struct pollfd fds[1 + 2 * MAX_PAIRS];
    int count = 0;
    for (;;) {
        fds[0].fd = count < MAX_PAIRS ? listener : -1;
        fds[0].events = POLLIN;
        for (int k = 0; k < count; k++) {
            for (int i = 0; i < 2; i++) {
                struct pair *p = &pairs[k];
                short events = 0;
                if (!p->dir[i].eof && p->dir[i].len == 0) events |= POLLIN;
                if (p->dir[1 - i].len > p->dir[1 - i].off) events |= POLLOUT;
                /* No interest: leave it out, or a hung-up side would wake poll() for ever. */
                fds[1 + 2 * k + i].fd = events ? p->fd[i] : -1;
                fds[1 + 2 * k + i].events = events;
            }
        }
        if (poll(fds, (nfds_t)(1 + 2 * count), -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        for (int k = 0; k < count; k++) {
            struct pair *p = &pairs[k];
            int ok = 1;
            for (int i = 0; i < 2 && ok; i++) {
                short got = fds[1 + 2 * k + i].revents;
                if (got & POLLOUT) ok = flush(p, 1 - i);
                if (ok && (got & (POLLIN | POLLHUP | POLLERR)) && !p->dir[i].eof &&
                    p->dir[i].len == 0)
                    ok = fill(p, i);
                else if (ok && (got & POLLERR))
                    ok = 0;
            }
            if (!ok || (p->dir[0].eof == 2 && p->dir[1].eof == 2)) {
                close_pair(p);
                pairs[k] = pairs[--count];
                fds[1 + 2 * k] = fds[1 + 2 * count];
                fds[2 + 2 * k] = fds[2 + 2 * count];
                k--;
            }
        }
        if (fds[0].revents & POLLIN) {
            int in = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (in < 0) continue;
            int out = connect_to(target);
            if (out < 0) { /* nothing to pass it to: the client sees the connection end */
                close(in);
                continue;
            }
            nodelay(in, listen_addr);
            struct pair *p = &pairs[count++];
            memset(p, 0, sizeof(*p));
            p->fd[0] = in;
            p->fd[1] = out;
            p->dir[0].buf = malloc(BUF_SIZE);
            p->dir[1].buf = malloc(BUF_SIZE);
            if (!p->dir[0].buf || !p->dir[1].buf) die("malloc");
            fcntl(in, F_SETFL, O_NONBLOCK);
            fcntl(out, F_SETFL, O_NONBLOCK);
        }
    }
}

static int is_executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* As runc starts a process (Go's exec.LookPath, then execve): the first executable file of
 * that name on PATH. Not execvp, which runs a file it cannot execute as a shell script. */
static void exec_command(char **command) {
    extern char **environ;
    if (strchr(command[0], '/')) {
        execve(command[0], command, environ);
        return;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char candidate[4096];
    for (const char *dir = path;; dir = strchr(dir, ':') + 1) {
        size_t len = strcspn(dir, ":");
        if (snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, len ? dir : ".",
                     command[0]) < (int)sizeof(candidate) &&
            is_executable_file(candidate)) {
            execve(candidate, command, environ);
            return;
        }
        if (!dir[len]) break;
    }
    errno = ENOENT;
}

/* COMMAND could not be executed: tell the Runtime API at `target`, as Lambda's init would. */
static void report_exec_failure(const struct addr *target, const char *message) {
    char body[2048], request[4096];
    size_t n = 0;
    n += snprintf(body, sizeof(body), "{\"errorMessage\":\"");
    for (const char *c = message; *c && n < sizeof(body) - 64; c++) {
        if (*c == '"' || *c == '\\') body[n++] = '\\';
        if ((unsigned char)*c >= 0x20) body[n++] = *c;
    }
    n += snprintf(body + n, sizeof(body) - n, "\",\"errorType\":\"Runtime.InvalidEntrypoint\"}");
    int length = snprintf(request, sizeof(request),
                          "POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
                          "Host: rlambda-relay\r\n"
                          "Lambda-Runtime-Function-Error-Type: Runtime.InvalidEntrypoint\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                          "Connection: close\r\n\r\n%s",
                          n, body);
    int fd = connect_to(target);
    if (fd < 0) return;
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) == length) {
        char sink[512]; /* wait for the answer: the error must arrive before our exit */
        while (recv(fd, sink, sizeof(sink), 0) > 0) {
        }
    }
    close(fd);
}

int main(int argc, char **argv) {
    int report = 0, at = 1;
    if (at < argc && strcmp(argv[at], "-e") == 0) report = 1, at++;
    if (argc - at < 4 || strcmp(argv[at + 2], "--") != 0) {
        fprintf(stderr, "usage: rlambda-relay [-e] LISTEN TARGET -- COMMAND [ARG...]\n");
        return 111;
    }
    struct addr listen_addr, target;
    parse_addr(argv[at], &listen_addr);
    parse_addr(argv[at + 1], &target);
    char **command = argv + at + 3;
    int listener = listen_on(&listen_addr);

    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0); /* it exited before the line above */
        signal(SIGPIPE, SIG_IGN);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) dup2(null, 0), dup2(null, 1), close(null); /* keep stderr */
        relay(listener, &target, &listen_addr);
    }
    close(listener);
    exec_command(command);

    int failed = errno;
    char message[1200];
    snprintf(message, sizeof(message), "fork/exec %.1024s: %s%s", command[0], strerror(failed),
             failed == ENOEXEC ? " (a binary for another architecture? it needs QEMU registered "
                                 "with binfmt_misc on the host)"
                               : "");
    fprintf(stderr, "rlambda-relay: %s\n", message);
    if (report) report_exec_failure(&target, message);
    return failed == ENOENT ? 127 : 126;
}
