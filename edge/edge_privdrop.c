/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_privdrop.c — see edge_privdrop.h.
 *
 * Model.  edge_privdrop_prepare runs first in the daemon: when the process
 * will switch users it forks the helper while it is still one thread with no
 * descriptor of interest (the helper closes every descriptor but its end of a
 * SOCK_SEQPACKET pair).  The daemon then binds, opens and reads as root;
 * edge_privdrop_apply switches every thread at once (glibc's set*id calls
 * reach all threads: the disk tier's writer already runs) before the workers
 * start.  Changing the uid from 0 to another clears the permitted, effective
 * and ambient capability sets (no SECBIT_KEEP_CAPS is set); apply checks it.
 *
 * The helper answers one request at a time: a path in, an errno and (on 0)
 * a read-only descriptor out (SCM_RIGHTS).  It opens only regular files the
 * configuration file names as a YAML scalar, or that file itself, reading
 * the configuration afresh for each request; so a daemon taken over can read
 * nothing root did not list in a root-owned file.  It exits when the daemon's
 * end closes (exit, crash or kill -9), ignores HUP/INT/USR1 (those are the
 * daemon's), and dies with the daemon (PR_SET_PDEATHSIG).
 *
 * One more request starts a binary upgrade (edge_upgrade.h): a fixed
 * message with the socket pair's end attached; the helper forks twice (the
 * new process is nobody's child to wait for) and the grandchild execs the
 * binary path remembered at start-up with the configuration path the helper
 * was given.  Neither comes from the request, so a daemon taken over can
 * only start the installed binary on the root-owned configuration again, as
 * root: what a restart does.
 *
 * Requests come from the main thread (config_load, edge_tls_new on a reload)
 * and from the workers (origin TLS contexts of a new generation): a mutex
 * keeps request and answer together.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_file.h"
#include "core/assert.h"
#include "core/fdpass.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "edge/edge_privdrop.h"
#include "edge/edge_upgrade.h"

#define PRIVDROP_DEFAULT_USER "outpost"
#define PRIVDROP_TIMEOUT_S    10 /* an answer of the helper; it only opens a file */
/* The request that starts a binary upgrade: no path starts with a NUL. */
static const char privdrop_upgrade_req[] = "\0upgrade";

struct edge_privdrop {
	unsigned magic; /* EDGE_PRIVDROP_MAGIC */
	char *user;
	char *group;
	uid_t uid;
	gid_t gid;
	int sock;           /* the daemon's end of the pair */
	pid_t helper;       /* -1 once reaped */
	pthread_mutex_t mu; /* one request at a time */
};

/* ---- the helper (a child process, root) ---- */

static void
privdrop_answer(int sock, int err, int fd)
{
	struct iovec iov = {.iov_base = &err, .iov_len = sizeof err};

	(void)fdpass_send(sock, &iov, 1, err == 0 ? fd : -1);
}

/* errno of opening path for the daemon, 0 and *fdp on success. */
static int
privdrop_helper_open(const char *conf, const char *path, int *fdp)
{
	struct stat st;
	int r = config_file_names(conf, path);
	int fd;

	if (r < 0)
		return -r;
	if (r == 0)
		return EPERM; /* not a file the configuration names */
	/* O_NONBLOCK: a FIFO named by mistake cannot block the helper */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

/* Starts the binary again with fd as its upgrade descriptor: errno of the
 * fork, 0 when the new process is on its way. */
static int
privdrop_helper_upgrade(int fd)
{
	pid_t child = fork();
	int st;

	if (child == -1)
		return errno;
	if (child == 0) {
		if (fork() == 0) {
			edge_upgrade_exec(fd);
			_exit(127);
		}
		_exit(0);
	}
	while (waitpid(child, &st, 0) == -1 && errno == EINTR)
		;
	return 0;
}

static _Noreturn void
privdrop_helper(int sock, const char *conf, pid_t parent)
{
	char path[PATH_MAX + 1];
	struct iovec iov = {.iov_base = path, .iov_len = sizeof path - 1};
	ssize_t n;
	int err, fd, passed;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	(void)prctl(PR_SET_NAME, "outpost-files");
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (sock > 3)
		(void)close_range(3, (unsigned)sock - 1, 0);
	(void)close_range((unsigned)sock + 1, ~0U, 0);
	for (;;) {
		n = fdpass_recv(sock, &iov, 1, MSG_TRUNC, &passed, NULL);
		if (n <= 0)
			_exit(0); /* the daemon is gone */
		fd = -1;
		if ((size_t)n == sizeof privdrop_upgrade_req - 1 &&
		    memcmp(path, privdrop_upgrade_req, (size_t)n) == 0) {
			err = passed != -1 ? privdrop_helper_upgrade(passed) : EINVAL;
		} else if ((size_t)n > sizeof path - 1) {
			err = ENAMETOOLONG;
		} else {
			path[n] = '\0';
			err = strlen(path) != (size_t)n ? EINVAL
			                                : privdrop_helper_open(conf, path, &fd);
		}
		if (passed != -1)
			close(passed);
		privdrop_answer(sock, err, fd);
		if (fd != -1)
			close(fd);
	}
}

/* ---- the daemon's side ---- */

/* config_file_open_cb: asks the helper. */
static int
privdrop_open(const char *path, void *arg)
{
	struct edge_privdrop *pd = arg;
	int err = EIO, fd = -1;
	struct iovec iov = {.iov_base = &err, .iov_len = sizeof err};
	size_t len = strlen(path);
	ssize_t n;

	OBJ_CHECK(pd, EDGE_PRIVDROP_MAGIC);
	if (len == 0)
		return -ENOENT;
	if (len > PATH_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&pd->mu);
	if (send(pd->sock, path, len, MSG_NOSIGNAL) == -1) {
		err = errno;
		log_err("privdrop", "file helper: send: %s", strerror(err));
		goto out;
	}
	n = fdpass_recv(pd->sock, &iov, 1, 0, &fd, NULL);
	if (n != (ssize_t)sizeof err) {
		err = n == -1 ? errno : EPIPE;
		log_err("privdrop", "file helper: no answer: %s", strerror(err));
		if (fd != -1)
			close(fd);
		fd = -1;
		goto out;
	}
	if (err == 0 && fd == -1)
		err = EIO;
	if (err != 0 && fd != -1) {
		close(fd);
		fd = -1;
	}
out:
	pthread_mutex_unlock(&pd->mu);
	return fd != -1 ? fd : -err;
}

int
edge_privdrop_upgrade(struct edge_privdrop *pd, int fd)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)privdrop_upgrade_req,
	    .iov_len = sizeof privdrop_upgrade_req - 1};
	int err = EIO;
	ssize_t n;

	OBJ_CHECK(pd, EDGE_PRIVDROP_MAGIC);
	pthread_mutex_lock(&pd->mu);
	if (fdpass_send(pd->sock, &iov, 1, fd) == -1) {
		err = errno;
	} else {
		do
			n = recv(pd->sock, &err, sizeof err, 0);
		while (n == -1 && errno == EINTR);
		if (n != (ssize_t)sizeof err)
			err = n == -1 ? errno : EPIPE;
	}
	pthread_mutex_unlock(&pd->mu);
	if (err != 0)
		log_err("privdrop", "file helper: starting the new binary: %s", strerror(err));
	return -err;
}

static int
privdrop_start_helper(struct edge_privdrop *pd, const char *path)
{
	struct timeval tv = {PRIVDROP_TIMEOUT_S, 0};
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("privdrop", "socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pd->helper = fork();
	if (pd->helper == -1) {
		log_err("privdrop", "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pd->helper == 0) {
		close(sv[0]);
		privdrop_helper(sv[1], path, parent);
	}
	close(sv[1]);
	pd->sock = sv[0];
	if (setsockopt(pd->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
	    setsockopt(pd->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
		log_warn("privdrop", "file helper: setsockopt: %s", strerror(errno));
	return 0;
}

int
edge_privdrop_prepare(const struct config *cfg, const char *path, struct edge_privdrop **out)
{
	const char *user = cfg->node_user != NULL ? cfg->node_user : PRIVDROP_DEFAULT_USER;
	uid_t euid = geteuid();
	struct edge_privdrop *pd;
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	*out = NULL;
	if (cfg->node_user == NULL && euid != 0)
		return 0; /* not root, no user asked for: stay */
	if ((pw = getpwnam(user)) == NULL) {
		if (cfg->node_user == NULL)
			log_err("privdrop",
			    "started as root without node.user, and the default user \"%s\" does "
			    "not exist: create it (e.g. systemd-sysusers with the outpost sysusers "
			    "file) or set node.user (\"node.user: root\" keeps root)",
			    user);
		else
			log_err("privdrop", "node.user \"%s\": no such user", user);
		return -1;
	}
	gid = pw->pw_gid;
	if (cfg->node_group != NULL) {
		if ((gr = getgrnam(cfg->node_group)) == NULL) {
			log_err("privdrop", "node.group \"%s\": no such group", cfg->node_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (pw->pw_uid == 0) {
		if (euid == 0)
			log_warn("privdrop", "running as root (node.user: %s)", user);
		else
			log_err("privdrop",
			    "node.user \"%s\" is root: outpost was not started as root", user);
		return euid == 0 ? 0 : -1;
	}
	if (euid != 0) {
		if (pw->pw_uid == euid && gid == getegid())
			return 0; /* already who node.user / node.group say */
		log_err("privdrop",
		    "node.user \"%s\" (uid %u, gid %u): outpost runs as uid %u gid %u, not root, "
		    "and cannot switch",
		    user, (unsigned)pw->pw_uid, (unsigned)gid, (unsigned)euid, (unsigned)getegid());
		return -1;
	}
	pd = xcalloc(1, sizeof *pd);
	pd->magic = EDGE_PRIVDROP_MAGIC;
	pd->user = xstrdup(pw->pw_name);
	pd->uid = pw->pw_uid;
	pd->gid = gid;
	gr = getgrgid(gid);
	pd->group = gr != NULL ? xstrdup(gr->gr_name) : NULL;
	pd->sock = -1;
	pd->helper = -1;
	pthread_mutex_init(&pd->mu, NULL);
	if (privdrop_start_helper(pd, path) != 0) {
		edge_privdrop_free(&pd);
		return -1;
	}
	*out = pd;
	return 0;
}

static int
privdrop_chown_tree(const struct edge_privdrop *pd, const char *path, int depth)
{
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (pd == NULL)
		return 0;
	if ((d = opendir(path)) == NULL) {
		log_err("privdrop", "\"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (fchown(dirfd(d), pd->uid, pd->gid) == -1) {
		log_err("privdrop", "chown \"%s\": %s", path, strerror(errno));
		rc = -1;
	}
	/* the files LMDB made in it (data.mdb, lock.mdb) and, one level down,
	 * in the purge log's folder; nothing deeper */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fchownat(dirfd(d), e->d_name, pd->uid, pd->gid, AT_SYMLINK_NOFOLLOW) == -1) {
			log_err(
			    "privdrop", "chown \"%s/%s\": %s", path, e->d_name, strerror(errno));
			rc = -1;
		} else if (e->d_type == DT_DIR && depth == 0) {
			char sub[4096];

			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			rc = privdrop_chown_tree(pd, sub, 1);
		}
	}
	closedir(d);
	return rc;
}

int
edge_privdrop_chown_dir(const struct edge_privdrop *pd, const char *path)
{
	return privdrop_chown_tree(pd, path, 0);
}

int
edge_privdrop_chown_fd(const struct edge_privdrop *pd, int fd, const char *path)
{
	if (pd == NULL || fchown(fd, pd->uid, pd->gid) == 0)
		return 0;
	log_err("privdrop", "chown \"%s\": %s", path, strerror(errno));
	return -1;
}

/* 0 when the process holds no capability in its permitted or effective set. */
static int
privdrop_no_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].permitted != 0 || d[i].effective != 0)
			return -1;
	return 0;
}

int
edge_privdrop_apply(struct edge_privdrop *pd)
{
	if (pd == NULL)
		return 0;
	OBJ_CHECK(pd, EDGE_PRIVDROP_MAGIC);
	/* groups first: once the uid is not 0 they cannot change any more */
	if (initgroups(pd->user, pd->gid) == -1) {
		log_err("privdrop", "initgroups \"%s\": %s", pd->user, strerror(errno));
		return -1;
	}
	if (setresgid(pd->gid, pd->gid, pd->gid) == -1) {
		log_err("privdrop", "setresgid %u: %s", (unsigned)pd->gid, strerror(errno));
		return -1;
	}
	if (setresuid(pd->uid, pd->uid, pd->uid) == -1) {
		log_err("privdrop", "setresuid %u: %s", (unsigned)pd->uid, strerror(errno));
		return -1;
	}
	if (getuid() != pd->uid || geteuid() != pd->uid || getgid() != pd->gid ||
	    getegid() != pd->gid || setuid(0) != -1 || privdrop_no_caps() != 0) {
		log_err("privdrop", "still privileged after switching to user \"%s\"", pd->user);
		return -1;
	}
	config_file_set_opener(privdrop_open, pd);
	log_info("privdrop", "running as user %s (uid %u), group %s (gid %u), no capabilities",
	    pd->user, (unsigned)pd->uid, pd->group != NULL ? pd->group : "?", (unsigned)pd->gid);
	return 0;
}

void
edge_privdrop_free(struct edge_privdrop **pdp)
{
	struct edge_privdrop *pd = *pdp;

	if (pd == NULL)
		return;
	*pdp = NULL;
	OBJ_CHECK(pd, EDGE_PRIVDROP_MAGIC);
	config_file_set_opener(NULL, NULL);
	if (pd->sock != -1)
		close(pd->sock); /* the helper reads EOF and exits */
	if (pd->helper > 0)
		while (waitpid(pd->helper, NULL, 0) == -1 && errno == EINTR)
			;
	pthread_mutex_destroy(&pd->mu);
	free(pd->user);
	free(pd->group);
	pd->magic = 0;
	free(pd);
}
