/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64

const char *mbt_minbilld_path(void)
{
    const char *p = getenv("MINBILLD");
    return p != NULL ? p : "minbilld";
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int mbt_run_minbilld(const char *const *args, char *out, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        const char *argv[MAX_ARGS];
        int n = 0;
        argv[n++] = mbt_minbilld_path();
        for (int i = 0; args[i] != NULL && n < MAX_ARGS - 1; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    char sink[256];
    for (;;) {
        char *dst = out != NULL && used + 1 < size ? out + used : sink;
        size_t room = out != NULL && used + 1 < size ? size - used - 1 : sizeof sink;
        ssize_t r = read(fds[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            used += (size_t)r;
    }
    close(fds[0]);
    if (out != NULL && size > 0)
        out[used] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int mbt_daemon_init(mbt_daemon *d)
{
    memset(d, 0, sizeof *d);
    const char *tmp = getenv("TMPDIR");
    snprintf(d->dir, sizeof d->dir, "%s/minbill-test-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(d->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(d->db, sizeof d->db, "%s/minbill.db", d->dir);
    snprintf(d->key_file, sizeof d->key_file, "%s/master.key", d->dir);
    snprintf(d->log, sizeof d->log, "%s/minbilld.log", d->dir);
    const char *args[] = {"keys", "init", "--key-file", d->key_file, NULL};
    if (mbt_run_minbilld(args, NULL, 0) != 0) {
        fprintf(stderr, "harness: minbilld keys init failed\n");
        return -1;
    }
    return 0;
}

/* Finds the port of the newest "event=serving" line in the log. */
static int find_port(const char *log, long from)
{
    FILE *f = fopen(log, "r");
    if (f == NULL)
        return 0;
    fseek(f, from, SEEK_SET);
    char line[2048];
    int port = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "event=serving");
        if (p != NULL && (p = strstr(p, " port=")) != NULL)
            port = atoi(p + 6);
    }
    fclose(f);
    return port;
}

int mbt_daemon_start(mbt_daemon *d, const char *const *extra_args)
{
    struct stat st;
    long from = stat(d->log, &st) == 0 ? (long)st.st_size : 0;
    d->port = 0;
    d->exit_status = -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        const char *argv[MAX_ARGS];
        int n = 0;
        char *wrapper = getenv("MINBILL_DAEMON_WRAPPER");
        if (wrapper != NULL && wrapper[0] != '\0') {
            wrapper = strdup(wrapper);
            for (char *tok = strtok(wrapper, " "); tok && n < MAX_ARGS / 2;
                 tok = strtok(NULL, " "))
                argv[n++] = tok;
        }
        argv[n++] = mbt_minbilld_path();
        argv[n++] = "serve";
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
        argv[n++] = "--db";
        argv[n++] = d->db;
        argv[n++] = "--key-file";
        argv[n++] = d->key_file;
        for (int i = 0; extra_args != NULL && extra_args[i] != NULL && n < MAX_ARGS - 1; i++)
            argv[n++] = extra_args[i];
        argv[n] = NULL;
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    for (int waited = 0; waited < 120000; waited += 20) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "harness: minbilld exited during start-up (see %s)\n", d->log);
            d->pid = 0;
            d->exit_status = status;
            return -1;
        }
        int port = find_port(d->log, from);
        if (port > 0) {
            d->port = port;
            snprintf(d->target, sizeof d->target, "127.0.0.1:%d", port);
            return 0;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "harness: minbilld did not start serving (see %s)\n", d->log);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    d->pid = 0;
    return -1;
}

int mbt_daemon_api_key(mbt_daemon *d, const char *role, char *out, size_t size)
{
    const char *args[] = {"keys",  "create-api-key", "--db",   d->db, "--key-file",
                          d->key_file, "--role",     role,     "--name", "test", NULL};
    if (mbt_run_minbilld(args, out, size) != 0)
        return -1;
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

int mbt_daemon_stop(mbt_daemon *d, int sig, int timeout_s, int *status)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    for (int waited = 0; waited < timeout_s * 1000; waited += 10) {
        if (waitpid(d->pid, status, WNOHANG) == d->pid) {
            d->pid = 0;
            return 0;
        }
        sleep_ms(10);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, status, 0);
    d->pid = 0;
    return -1;
}

void mbt_daemon_cleanup(mbt_daemon *d)
{
    if (d->pid > 0) {
        int status;
        mbt_daemon_stop(d, SIGKILL, 5, &status);
    }
    if (d->dir[0] == '\0')
        return; /* mbt_daemon_init() never got as far as a directory */
    if (getenv("MINBILL_KEEP_TEST_DIR") != NULL) {
        fprintf(stderr, "harness: kept %s\n", d->dir);
        return;
    }
    /* Everything in it: tests add files of their own (second logs, other
     * key files, backups), and a leftover would make rmdir fail. The
     * directory is ours alone (mkdtemp), with no subdirectories. */
    DIR *dir = opendir(d->dir);
    for (struct dirent *e; dir != NULL && (e = readdir(dir)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[MBT_PATH + 256];
        snprintf(path, sizeof path, "%s/%s", d->dir, e->d_name);
        unlink(path);
    }
    if (dir != NULL)
        closedir(dir);
    if (rmdir(d->dir) != 0)
        fprintf(stderr, "harness: could not remove %s: %s\n", d->dir, strerror(errno));
}
