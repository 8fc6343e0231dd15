/* sys.h - running a server under test as a child process. */
#ifndef BENCH_SYS_H
#define BENCH_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --pin: this process (and every thread it makes from now on) on its
 * first allowed CPU, every server spawn_logged starts on the others.
 * -1 (said on stderr) when there are fewer than 2 CPUs or the calls
 * fail */
int	 pin_cpus(void);
/* if pinned, both CPU lists, written as "0" / "1,2,3" */
bool	 pinned_cpus(char *bench_cpus, char *server_cpus, size_t len);
/* how many CPUs a server started from here on may run on */
unsigned server_cpus(void);
/* fork and exec argv (PATH searched), stdin /dev/null, stdout and
 * stderr into logpath; the pid or -1 */
pid_t	 spawn_logged(char *const argv[], const char *logpath);
/* a TCP port on 127.0.0.1 that was free a moment ago, or -1 */
int	 loopback_port(void);
/* the whole file, NUL-terminated (malloc'd), or NULL */
char	*read_file(const char *path);
/* the log's text once it holds word; NULL if pid exits or timeout
 * seconds pass first */
char	*wait_log(const char *logpath, pid_t pid, const char *word,
	    double timeout);
/* SIGTERM, then SIGKILL after timeout seconds: the exit status, 128 +
 * the signal when killed, -1 when it was not our child */
int	 stop_child(pid_t pid, double timeout);
/* stop_child, and if it did not exit 0, say so with the end of its log
 * and keep the run's files (b->o.keep) */
struct bench;
int	 stop_child_report(struct bench *b, pid_t pid, const char *name,
	    const char *logpath);
/* remove dir and all below it */
void	 rm_tree(const char *dir);

#endif
