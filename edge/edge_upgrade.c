/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_upgrade.c — see edge_upgrade.h: starting the binary again and
 * the messages of the handover.
 *
 * The binary's path is read from /proc/self/exe at start-up: after a package
 * upgrade that link names the old, deleted file, while the path remembered
 * names the new one.  The new process gets the socket pair's end as
 * descriptor 3 and its number in OUTPOST_UPGRADE_FD, which it removes from
 * its environment at once (a later upgrade passes its own).
 *
 * Only standard input, output and error and the upgrade descriptor cross
 * into the new process: the privilege helper has closed everything else, and
 * posix_spawn is told to close every other descriptor. *
 * A message is a fixed head (type, a, b) and a text; a socket rides along
 * with SCM_RIGHTS.  SOCK_SEQPACKET keeps message boundaries and tells a
 * closed peer (a zero read) apart from an empty message, which never occurs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdpass.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "edge/edge_upgrade.h"

#define UPGRADE_FD 3 /* where the new process finds its end */

extern char **environ;

static char upgrade_exe[PATH_MAX];
static char upgrade_conf[PATH_MAX];

struct upgrade_head {
	uint32_t type, a, b;
};

int
edge_upgrade_init(const char *config_path)
{
	ssize_t n = readlink("/proc/self/exe", upgrade_exe, sizeof upgrade_exe - 1);

	if (n <= 0 || (size_t)n >= sizeof upgrade_exe - 1) {
		upgrade_exe[0] = '\0';
		log_warn("main", "upgrade: cannot read /proc/self/exe: %s (upgrades refused)",
		    n == -1 ? strerror(errno) : "path too long");
		return -1;
	}
	upgrade_exe[n] = '\0';
	if (strlen(config_path) >= sizeof upgrade_conf) {
		upgrade_exe[0] = '\0';
		return -1;
	}
	strcpy(upgrade_conf, config_path);
	return 0;
}

void
edge_upgrade_exec(int fd)
{
	static const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE};
	char num[16];
	sigset_t none;

	if (upgrade_exe[0] == '\0')
		return;
	if (fd != UPGRADE_FD) {
		if (dup2(fd, UPGRADE_FD) == -1)
			return;
	} else if (fcntl(fd, F_SETFD, 0) == -1) {
		return;
	}
	snprintf(num, sizeof num, "%d", UPGRADE_FD);
	if (setenv(EDGE_UPGRADE_ENV, num, 1) == -1)
		return;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execl(upgrade_exe, upgrade_exe, "-c", upgrade_conf, (char *)NULL);
}

int
edge_upgrade_spawn(int fd, pid_t *pid)
{
	static const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	char var[sizeof EDGE_UPGRADE_ENV + 16];
	static char opt_c[] = "-c";
	char *argv[] = {upgrade_exe, opt_c, upgrade_conf, NULL};
	char **envp;
	size_t n = 0, k = 0;
	int r, tmp = -1;

	if (upgrade_exe[0] == '\0')
		return -ENOENT;
	/* dup2 onto itself would keep close-on-exec: move it away first */
	if (fd == UPGRADE_FD && (fd = tmp = fcntl(fd, F_DUPFD_CLOEXEC, UPGRADE_FD + 1)) == -1)
		return -errno;
	snprintf(var, sizeof var, "%s=%d", EDGE_UPGRADE_ENV, UPGRADE_FD);
	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 2, sizeof *envp);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], EDGE_UPGRADE_ENV "=", sizeof EDGE_UPGRADE_ENV) != 0)
			envp[k++] = environ[i];
	envp[k++] = var;
	envp[k] = NULL;
	sigemptyset(&def);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&def, sigs[i]);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	r = posix_spawn_file_actions_adddup2(&fa, fd, UPGRADE_FD);
	/* nothing else crosses: client and origin connections accepted or made
	 * without close-on-exec would otherwise stay open in the new process */
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(&fa, UPGRADE_FD + 1);
	if (r == 0)
		r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&at, &def);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&at, &none);
	if (r == 0)
		r = posix_spawn(pid, upgrade_exe, &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (tmp != -1)
		close(tmp);
	return -r;
}

int
edge_upgrade_inherited(void)
{
	const char *v = getenv(EDGE_UPGRADE_ENV);
	char *end;
	long fd;

	if (v == NULL || v[0] == '\0')
		return -1;
	fd = strtol(v, &end, 10);
	(void)unsetenv(EDGE_UPGRADE_ENV);
	if (*end != '\0' || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) == -1) {
		log_err("main", "upgrade: %s does not name an open descriptor", EDGE_UPGRADE_ENV);
		return -1;
	}
	(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	return (int)fd;
}

int
edge_upgrade_send(int sock, uint32_t type, uint32_t a, uint32_t b, const char *text, int fd)
{
	struct upgrade_head h = {type, a, b};
	size_t tl = text != NULL ? strlen(text) : 0;
	struct iovec iov[2] = {{&h, sizeof h}, {(void *)(uintptr_t)(text != NULL ? text : ""), tl}};
	ssize_t n;

	if (tl > EDGE_UPGRADE_TEXT)
		return -EMSGSIZE;
	n = fdpass_send(sock, iov, 2, fd);
	if (n == -1)
		return -errno;
	return (size_t)n == sizeof h + tl ? 0 : -EPROTO;
}

int
edge_upgrade_recv(int sock, unsigned timeout_ms, struct edge_upgrade_msg *m)
{
	struct upgrade_head h;
	struct iovec iov[2] = {{&h, sizeof h}, {m->text, EDGE_UPGRADE_TEXT}};
	struct pollfd p = {.fd = sock, .events = POLLIN};
	ssize_t n;
	int r, flags;

	m->fd = -1;
	do
		r = poll(&p, 1, (int)timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r == -1)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = fdpass_recv(sock, iov, 2, MSG_DONTWAIT, &m->fd, &flags);
	if (n == -1)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (n == 0)
		return -EPIPE;
	if ((size_t)n < sizeof h || (flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		if (m->fd != -1)
			close(m->fd);
		m->fd = -1;
		return -EPROTO;
	}
	m->type = h.type;
	m->a = h.a;
	m->b = h.b;
	m->text[n - (ssize_t)sizeof h] = '\0';
	return 0;
}
