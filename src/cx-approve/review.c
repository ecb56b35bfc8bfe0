/* review.c: the interactive review, in the style of `git add -p`. Each
 * pending item is shown on the terminal and decided with a single keypress
 * read from /dev/tty in raw mode (no Enter); a rejection's reason is read
 * as a line. The terminal is restored on every way out: normal exit,
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT, while stopped (SIGTSTP) and while the
 * editor runs. Decisions and edits go through the queue module like the
 * approve and reject commands: same role checks, audit rows and counters.
 * post.* lines go to stdout only when stdout is not the terminal. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "approve.h"
#include "config.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "operators.h"
#include "queue.h"
#include "utf8.h"
#include "xalloc.h"

#define MAX_EDITED (1024 * 1024)
#define MAX_REASON 1000

static int tty = -1;
static struct termios saved;
static volatile sig_atomic_t raw_on;

static void set_raw(void)
{
	struct termios t = saved;

	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(tty, TCSANOW, &t) == 0)
		raw_on = 1;
}

/* Async-signal-safe: only tcsetattr. */
static void restore(void)
{
	if (raw_on) {
		tcsetattr(tty, TCSANOW, &saved);
		raw_on = 0;
	}
}

static void on_fatal(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_stop(int sig)
{
	int was_raw = raw_on;

	restore();
	signal(sig, SIG_DFL);
	raise(sig);
	/* continued */
	signal(sig, on_stop);
	if (was_raw)
		set_raw();
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void catch_signals(void)
{
	struct sigaction sa = { 0 };

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_fatal;
	for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
		sigaction(fatal_signals[i], &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGTSTP, &sa, NULL);
}

/* One keypress; 0 at end of input. An escape sequence (arrow keys) is
 * read whole and returned as ESC. */
static int read_key(void)
{
	unsigned char c;
	ssize_t n;

	while ((n = read(tty, &c, 1)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return 0;
	if (c == 0x1B) {
		struct pollfd p = { .fd = tty, .events = POLLIN };
		unsigned char junk[16];

		while (poll(&p, 1, 20) > 0 && read(tty, junk, sizeof junk) > 0)
			;
	}
	return c;
}

/* A line typed in raw mode, echoed by hand: Backspace erases, Ctrl-U
 * clears, Enter ends, Ctrl-D or Escape on an empty line cancels (NULL). */
static char *read_line(FILE *ui, const char *prompt)
{
	char buf[MAX_REASON + 1];
	size_t n = 0;

	fputs(prompt, ui);
	for (;;) {
		int c = read_key();

		if (c == 0 || ((c == 4 || c == 0x1B) && n == 0)) {
			fputs("\n", ui);
			return NULL;
		}
		if (c == '\r' || c == '\n')
			break;
		if (c == 0x7F || c == 8) {
			if (n == 0)
				continue;
			while (n > 0 && (buf[--n] & 0xC0) == 0x80)
				;
			fputs("\b \b", ui);
			continue;
		}
		if (c == 0x15) {
			for (size_t i = 0; i < n; i++)
				if ((buf[i] & 0xC0) != 0x80)
					fputs("\b \b", ui);
			n = 0;
			continue;
		}
		if (c < 0x20 || n == MAX_REASON)
			continue;
		buf[n++] = (char)c;
		fputc(c, ui);
	}
	fputs("\n", ui);
	buf[n] = '\0';
	return cx_xstrdup(buf);
}

static void help(FILE *ui)
{
	fputs("a - approve this post\n"
	    "r - reject this post (asks for the reason)\n"
	    "e - edit the text in $EDITOR, then decide\n"
	    "s - skip: leave it pending and go to the next one\n"
	    "q - quit: leave this one and the rest pending\n"
	    "? - print this help\n", ui);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;

	if (!f)
		return NULL;
	buf = cx_xmalloc(MAX_EDITED + 1);
	*len = fread(buf, 1, MAX_EDITED + 1, f);
	fclose(f);
	if (*len > MAX_EDITED) {
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

/* Runs the editor on path with the terminal as its stdin, stdout and
 * stderr, the terminal restored meanwhile; 0 when it exits 0. */
static int run_editor(const char *path)
{
	const char *editor = cx_config_get("EDITOR", cx_config_get("VISUAL", "vi"));
	struct sigaction ign = { 0 }, old_int, old_quit;
	char *cmd = cx_xasprintf("%s \"$1\"", editor);
	int status = -1;
	pid_t pid;

	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	restore();
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		dup2(tty, 0);
		dup2(tty, 1);
		dup2(tty, 2);
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	set_raw();
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	free(cmd);
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

typedef struct {
	cx_store *s;
	FILE *ui;
	const char *actor;
	int events;                 /* write post.* lines to stdout */
	int approved, rejected, edited, skipped;
} review;

/* Edits the text of item in a private temporary file. 1 when the text
 * changed, 0 when not, -1 on a store failure (err set). */
static int edit(review *r, jv item, cx_err *err)
{
	const char *dir = cx_config_get("TMPDIR", "/tmp"), *text = cx_json_str(item, "text");
	char *path = cx_xasprintf("%s/cx-approve-XXXXXX.txt", dir), *edited = NULL;
	const char *problem = NULL;
	int fd = mkstemps(path, 4), rc = 0;
	size_t len = 0;
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(r->ui, "cannot create a temporary file in %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return 0;
	}
	fprintf(f, "%s\n", text);
	if (fclose(f) != 0 || run_editor(path) < 0) {
		fprintf(r->ui, "the editor failed: the text is unchanged\n");
		goto out;
	}
	if (!(edited = read_file(path, &len))) {
		fprintf(r->ui, "cannot read the edited text back (or it is over 1 MiB): "
		    "the text is unchanged\n");
		goto out;
	}
	if (len > 0 && edited[len - 1] == '\n')
		edited[--len] = '\0';
	if (len > 0 && edited[len - 1] == '\r')
		edited[--len] = '\0';
	if (strlen(edited) != len || !cx_utf8_valid(edited, len)) {
		fprintf(r->ui, "the edited text is not UTF-8 text: the text is unchanged\n");
		goto out;
	}
	if (strcmp(edited, text) == 0) {
		fprintf(r->ui, "no change\n");
		goto out;
	}
	if (cx_queue_edit(r->s, (int64_t)jv_number_value(jv_object_get(jv_copy(item),
	    jv_string("id"))), r->actor, edited, NULL, &problem, err) == 0) {
		fprintf(r->ui, "edited\n");
		r->edited++;
		rc = 1;
	} else if (err->code == CX_EXIT_DATAERR || err->code == CX_EXIT_SOME_FAILED) {
		fprintf(r->ui, "the edited text is refused: %s; the text is unchanged\n", err->msg);
	} else {
		rc = -1;
	}
out:
	unlink(path);
	free(path);
	free(edited);
	return rc;
}

/* Decides item id; 0 on success or an item-level failure (shown), else the
 * exit status to stop with. */
static int decide(review *r, int64_t id, int approve, const char *reason)
{
	cx_err err = { 0, "" };
	jv event;

	if (cx_queue_decide(r->s, id, r->actor, approve, reason, &event, &err) == 0) {
		fprintf(r->ui, "%s #%lld\n", approve ? "approved" : "rejected", (long long)id);
		if (approve)
			r->approved++;
		else
			r->rejected++;
		if (r->events) {
			cx_ndjson_write(event);
			cx_ndjson_flush();
		} else {
			jv_free(event);
		}
		return 0;
	}
	fprintf(r->ui, "%s\n", err.msg);
	return err.code == CX_EXIT_SOME_FAILED ? 0 : err.code ? err.code : CX_EXIT_TEMPFAIL;
}

static void collect_id(jv item, void *ctx)
{
	jv *ids = ctx;

	*ids = jv_array_append(*ids, jv_object_get(item, jv_string("id")));
}

/* Reviews one item; 1 to go on, 0 to quit, else -(exit status). */
static int review_item(review *r, int64_t id, int pos, int total)
{
	cx_err err = { 0, "" };
	jv item;
	int rc;

	for (;;) {
		if (cx_queue_get(r->s, id, &item, &err) < 0)
			return err.code == CX_EXIT_SOME_FAILED ? 1 : -err.code;
		if (strcmp(cx_json_str(item, "state"), "pending") != 0) {
			fprintf(r->ui, "#%lld was decided meanwhile (%s); next\n", (long long)id,
			    cx_json_str(item, "state"));
			jv_free(item);
			return 1;
		}
		fprintf(r->ui, "\n---- (%d/%d) ----\n", pos, total);
		approve_print_item(r->ui, item);
		for (;;) {
			int key;
			char *reason;

			fprintf(r->ui, "(%d/%d) Approve #%lld [a,r,e,s,q,?]? ", pos, total,
			    (long long)id);
			key = read_key();
			fprintf(r->ui, "%c\n", key >= 0x20 && key < 0x7F ? key : ' ');
			switch (key) {
			case 'a':
				jv_free(item);
				rc = decide(r, id, 1, NULL);
				return rc ? -rc : 1;
			case 'r':
				reason = read_line(r->ui, "Reason (Enter to end, empty to cancel): ");
				if (!reason || !*reason) {
					fprintf(r->ui, "not rejected: a rejection needs a reason\n");
					free(reason);
					continue;
				}
				jv_free(item);
				rc = decide(r, id, 0, reason);
				free(reason);
				return rc ? -rc : 1;
			case 'e':
				rc = edit(r, item, &err);
				if (rc < 0) {
					jv_free(item);
					fprintf(r->ui, "%s\n", err.msg);
					return -(err.code ? err.code : CX_EXIT_TEMPFAIL);
				}
				break;
			case 's':
				r->skipped++;
				jv_free(item);
				return 1;
			case 'q':
			case 0:
				jv_free(item);
				return 0;
			default:
				help(r->ui);
				continue;
			}
			break;  /* after an edit: show the item again */
		}
		jv_free(item);
	}
}

int approve_review(cx_store *s, int fd)
{
	review r = { .s = s, .actor = cx_identity_user(), .events = !isatty(1) };
	cx_err err = { 0, "" };
	jv ids = jv_array();
	int status = CX_EXIT_OK, total, rc = 0;

	/* Only those who may decide may review; a refusal is audited. */
	if (cx_store_begin(s, &err) < 0)
		goto fail;
	if (cx_operators_check(s, r.actor, CX_ROLE_ADMIN, "approval_denied", "review",
	    NULL, &err) < 0) {
		cx_operators_end_refused(s, &err);
		goto fail;
	}
	if (cx_store_commit(s, &err) < 0 ||
	    cx_queue_list(s, "pending", NULL, collect_id, &ids, &err) < 0)
		goto fail;
	tty = fd;
	r.ui = fdopen(dup(fd), "w");
	if (!r.ui || tcgetattr(tty, &saved) < 0) {
		cx_err_set(&err, CX_EXIT_USAGE, "cannot use the terminal: %s", strerror(errno));
		if (r.ui)
			fclose(r.ui);
		goto fail;
	}
	setvbuf(r.ui, NULL, _IONBF, 0);
	total = jv_array_length(jv_copy(ids));
	if (total == 0)
		fprintf(r.ui, "No pending items.\n");
	catch_signals();
	atexit(restore);
	set_raw();
	for (int i = 0; i < total; i++) {
		jv id = jv_array_get(jv_copy(ids), i);

		rc = review_item(&r, (int64_t)jv_number_value(id), i + 1, total);
		jv_free(id);
		if (rc <= 0)
			break;
	}
	restore();
	if (rc < 0)
		status = -rc;
	if (total > 0)
		fprintf(r.ui, "approved %d, rejected %d, edited %d, skipped %d\n",
		    r.approved, r.rejected, r.edited, r.skipped);
	fclose(r.ui);
	jv_free(ids);
	return status;
fail:
	jv_free(ids);
	cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
	return err.code ? err.code : CX_EXIT_TEMPFAIL;
}
