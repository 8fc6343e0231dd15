/* sys.c - clocks, /proc samples, and running a server as a child. */
#include "bench.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --pin: the bench's CPU, and those of every server started from
 * here on */
static cpu_set_t pin_bench, pin_server;
static bool pinned;

static void
cpu_list(const cpu_set_t *set, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < CPU_SETSIZE && o + 8 < len; i++)
		if (CPU_ISSET(i, set))
			o += (size_t)snprintf(out + o, len - o, "%s%d",
			    o > 0 ? "," : "", i);
}

int
pin_cpus(void)
{
	cpu_set_t all;
	bool first = true;

	if (sched_getaffinity(0, sizeof(all), &all) < 0) {
		fprintf(stderr, "sluice-bench: --pin: sched_getaffinity: %s\n",
		    strerror(errno));
		return -1;
	}
	if (CPU_COUNT(&all) < 2) {
		fprintf(stderr, "sluice-bench: --pin needs 2 CPUs or more; this "
		    "process may run on %d\n", CPU_COUNT(&all));
		return -1;
	}
	CPU_ZERO(&pin_bench);
	CPU_ZERO(&pin_server);
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		CPU_SET(i, first ? &pin_bench : &pin_server);
		first = false;
	}
	/* before any thread is made: they inherit it */
	if (sched_setaffinity(0, sizeof(pin_bench), &pin_bench) < 0) {
		fprintf(stderr, "sluice-bench: --pin: sched_setaffinity: %s\n",
		    strerror(errno));
		return -1;
	}
	pinned = true;
	return 0;
}

bool
pinned_cpus(char *bench_cpus, char *server_cpus, size_t len)
{
	if (!pinned)
		return false;
	cpu_list(&pin_bench, bench_cpus, len);
	cpu_list(&pin_server, server_cpus, len);
	return true;
}

unsigned
server_cpus(void)
{
	cpu_set_t all;

	if (pinned)
		return (unsigned)CPU_COUNT(&pin_server);
	if (sched_getaffinity(0, sizeof(all), &all) == 0 && CPU_COUNT(&all) > 0)
		return (unsigned)CPU_COUNT(&all);
	return 1;
}

int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
sleep_us(int64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
note(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->o.quiet)
		return;
	va_start(ap, fmt);
	fputs("sluice-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

long
proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

double
proc_cpu_s(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	int ok;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* fields 14 and 15, counted after the ")" that ends comm */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return -1;
	ok = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st);
	if (ok != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* the pids whose parent is pid (nginx's workers), at most max */
static size_t
children_of(pid_t pid, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		char path[300], line[512], *p;
		int ppid;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(line, sizeof(line), f);
		fclose(f);
		if (p == NULL || (p = strrchr(line, ')')) == NULL)
			continue;
		if (sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == pid)
			out[n++] = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return n;
}

/* one(pid) plus one() of each child; negative if one(pid) is */
static double
tree_sum(pid_t pid, double (*one)(pid_t))
{
	pid_t kids[64];
	size_t n = children_of(pid, kids, 64);
	double sum = one(pid);

	for (size_t i = 0; i < n && sum >= 0; i++) {
		double k = one(kids[i]);

		if (k > 0)
			sum += k;
	}
	return sum;
}

static double
rss_d(pid_t pid)
{
	return (double)proc_rss_kib(pid);
}

long
proc_tree_rss_kib(pid_t pid)
{
	return (long)tree_sum(pid, rss_d);
}

double
proc_tree_cpu_s(pid_t pid)
{
	return tree_sum(pid, proc_cpu_s);
}

/* ---- how the scheduler treated a process: summed over its threads ---- */

/* One thread's figures, from /proc/PID/task/TID, added to out; false
 * if the thread is gone (it counts for nothing). */
static bool
task_sched(const char *task, struct sched_figs *out)
{
	static const char kv[] = "voluntary_ctxt_switches:",
	    kn[] = "nonvoluntary_ctxt_switches:";
	char path[360], line[256];
	unsigned long long run, wait;
	FILE *f;

	/* schedstat: time on a CPU, time runnable waiting for one (ns),
	 * timeslices */
	snprintf(path, sizeof(path), "%s/schedstat", task);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fscanf(f, "%llu %llu", &run, &wait) == 2)
		out->wait_s += (double)wait / 1e9;
	fclose(f);
	snprintf(path, sizeof(path), "%s/status", task);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, kv, sizeof(kv) - 1) == 0)
			out->vol += (double)strtoull(line + sizeof(kv) - 1, NULL, 10);
		else if (strncmp(line, kn, sizeof(kn) - 1) == 0)
			out->invol += (double)strtoull(line + sizeof(kn) - 1,
			    NULL, 10);
	fclose(f);
	return true;
}

/* pid's threads, added to out; false if pid is unknown */
static bool
threads_sched(pid_t pid, struct sched_figs *out)
{
	char dir[64], task[340];
	struct dirent *de;
	DIR *d;

	if (pid <= 0)
		return false;
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(task, sizeof(task), "%s/%s", dir, de->d_name);
		(void)task_sched(task, out);
	}
	closedir(d);
	return true;
}

void
proc_sched(pid_t pid, bool children, struct sched_figs *out)
{
	pid_t kids[64];
	size_t n = children ? children_of(pid, kids, 64) : 0;

	memset(out, 0, sizeof(*out));
	if (!threads_sched(pid, out)) {
		out->wait_s = out->vol = out->invol = -1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		(void)threads_sched(kids[i], out);
}

double
machine_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return -1;
	/* cpu user nice system idle iowait irq softirq steal */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 7)
		return -1;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) /
	    (double)sysconf(_SC_CLK_TCK);
}

double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
loopback_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

pid_t
spawn_logged(char *const argv[], const char *logpath)
{
	pid_t pid;
	int log, null;

	log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log < 0)
		return -1;
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		close(log);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		if (pinned)
			(void)sched_setaffinity(0, sizeof(pin_server), &pin_server);
		dup2(null, STDIN_FILENO);
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "sluice-bench: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(log);
	close(null);
	return pid;
}

char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			s = realloc(s, cap);
			if (s == NULL)
				abort();
		}
		n = fread(s + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	s[len] = '\0';
	return s;
}

char *
wait_log(const char *logpath, pid_t pid, const char *word, double timeout)
{
	int64_t deadline = mono_us() + (int64_t)(timeout * 1e6);

	for (;;) {
		char *log = read_file(logpath);
		int st;

		if (log != NULL && strstr(log, word) != NULL)
			return log;
		free(log);
		if (waitpid(pid, &st, WNOHANG) == pid || mono_us() > deadline)
			return NULL;
		sleep_us(20000);
	}
}

int
stop_child(pid_t pid, double timeout)
{
	int64_t deadline = mono_us() + (int64_t)(timeout * 1e6);
	int st;

	kill(pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (mono_us() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		sleep_us(10000);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int
stop_child_report(struct bench *b, pid_t pid, const char *name,
    const char *logpath)
{
	int st = stop_child(pid, 10);

	if (st != 0) {
		char *l = read_file(logpath);
		size_t ll = l ? strlen(l) : 0;

		fprintf(stderr, "sluice-bench: %s exited with status %d; the "
		    "end of its log:\n%s\n", name, st,
		    l ? l + (ll > 4000 ? ll - 4000 : 0) : "");
		free(l);
		b->o.keep = true;
	}
	return st;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
