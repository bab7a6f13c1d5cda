/*
 * smtpd_session.c — one inbound SMTP connection: reading, the pipelining
 * loop, replies and their flushing, time-outs and the end of a session.
 *
 * Pipelining (RFC 2920): whatever the client sent is read into a bounded
 * buffer and executed one command at a time; replies collect in the
 * output buffer and are written when no whole command is left (or the
 * buffer is nearly full). While the output cannot be written the session
 * stops reading, so a client that does not read its replies cannot make
 * the server buffer without bound.
 */
#include <string.h>
#include <sys/epoll.h>

#include "smtp/smtpd_int.h"

static const char *const smtpd_state_names[SMTPD_S_COUNT] = {
	"greet-wait",
	"connected",
	"helo",
	"mail",
	"rcpt",
	"data",
	"bdat",
	"commit",
	"closing",
	"drain",
};

#define SMTPD_LINGER_MS 2000

static void smtpd_run(struct smtpd_session *s);

const char *
smtpd_hostname(const struct smtpd_session *s)
{
	return conf_server_hostname(s->conf, s->srv);
}

void
smtpd_set_state(struct smtpd_session *s, enum smtpd_state to)
{
	if (ENABLE_DEBUG_TRACE) {
		log_debug("%s smtp in state %s -> %s", s->id,
		    smtpd_state_names[s->state], smtpd_state_names[to]);
	}
	s->state = to;
}

static void
smtpd_vreply(struct smtpd_session *s, bool last, enum smtp_r r, va_list ap)
{
	if (smtp_reply_vfmt(&s->out, last, r, ap) < 0) {
		/* SMTPD_REPLY_MAX is kept free before each command */
		panic("%s reply %d does not fit", s->id, (int)r);
	}
	if (smtp_reply_get(r)->code >= 400) {
		s->errors++;
	}
}

void
smtpd_reply(struct smtpd_session *s, enum smtp_r r, ...)
{
	va_list ap;

	va_start(ap, r);
	smtpd_vreply(s, true, r, ap);
	va_end(ap);
}

void
smtpd_reply_more(struct smtpd_session *s, enum smtp_r r, ...)
{
	va_list ap;

	va_start(ap, r);
	smtpd_vreply(s, false, r, ap);
	va_end(ap);
}

void
smtpd_reply_close(struct smtpd_session *s, enum smtp_r r, ...)
{
	va_list ap;

	va_start(ap, r);
	smtpd_vreply(s, true, r, ap);
	va_end(ap);
	smtpd_set_state(s, SMTPD_S_CLOSING);
}

void
smtpd_txn_end(struct smtpd_session *s)
{
	if (s->txn != NULL) {
		if (s->txn->qm != NULL) {
			queue_msg_abort(s->txn->qm);
		}
		smtpd_txn_free(s->txn);
		s->txn = NULL;
	}
}

/*
 * The session's input and output: over TLS once STARTTLS completed, else
 * straight on the socket.
 */
static ssize_t
smtpd_io_read(struct smtpd_session *s, void *buf, size_t n)
{
	return smtpd_tls_active(s) ? smtpd_tls_read(s, buf, n) :
	                             net_read(s->io.fd, buf, n);
}

static ssize_t
smtpd_io_write(struct smtpd_session *s, const void *buf, size_t n)
{
	return smtpd_tls_active(s) ? smtpd_tls_write(s, buf, n) :
	                             net_write(s->io.fd, buf, n);
}

void
smtpd_close(struct smtpd_session *s, const char *reason)
{
	int fd = s->io.fd;

	log_info("%s smtp in disconnect reason=%s messages=%u errors=%u", s->id,
	    reason, s->messages, s->errors);
	smtpd_tls_close(s);
	smtpd_txn_end(s);
	smtpd_auth_end(s);
	queue_wait_cancel(&s->qwait);
	ev_timer_stop(&s->timer);
	ev_io_stop(&s->io);
	net_close(fd);
	smtpd_session_free(s);
}

static void smtpd_arm_timer(struct smtpd_session *s);
static void smtpd_on_timer(struct ev_timer *t);

/*
 * After the last reply: shut our side and read what the client still
 * sends until it closes (or a short while), so that the reply is not
 * lost to a reset from closing a socket with unread input.
 */
static void
smtpd_linger(struct smtpd_session *s)
{
	smtpd_tls_close(s); /* close_notify; what follows is discarded */
	net_shutdown_write(s->io.fd);
	buf_reset(&s->in);
	smtpd_set_state(s, SMTPD_S_DRAIN);
	ev_timer_start(&s->timer, SMTPD_LINGER_MS, smtpd_on_timer);
}

static void
smtpd_drain(struct smtpd_session *s)
{
	char sink[512];
	ssize_t r;

	do {
		r = net_read(s->io.fd, sink, sizeof(sink));
	} while (r > 0);
	if (r != -EAGAIN) {
		smtpd_close(s, "closed");
	}
}

/* Write what is queued; false when the session was closed. */
static bool
smtpd_flush(struct smtpd_session *s, int fd)
{
	ssize_t w;

	while (buf_size(&s->out) > 0) {
		w = smtpd_io_write(s, buf_data(&s->out), buf_size(&s->out));
		if (w == -EAGAIN) {
			s->write_blocked = true;
			ev_io_set(&s->io, EPOLLOUT);
			return true;
		}
		if (w < 0) {
			smtpd_close(s, "write-error");
			return false;
		}
		buf_consume(&s->out, (size_t)w);
	}
	if (s->write_blocked) {
		s->write_blocked = false;
		ev_io_set(&s->io, s->paused ? 0 : EPOLLIN);
	}
	if (s->state == SMTPD_S_CLOSING) {
		if (buf_size(&s->in) == 0 && !net_pending(fd)) {
			smtpd_close(s, "closed"); /* nothing unread: no reset */
		} else {
			smtpd_linger(s);
		}
		return false;
	}
	return true;
}

/* Next command line, or 0 when no whole line is there yet. */
static size_t
smtpd_next_line(struct smtpd_session *s)
{
	size_t len = buf_line_len(&s->in);

	if (len == 0 && buf_room(&s->in) == 0 && s->in.off == 0) {
		/* RFC 5321 4.5.3.1.4: no command is this long */
		if (!s->discard_line) {
			smtpd_reply(s,
			    smtpd_auth_busy(s) ? SMTP_R_AUTH_TOO_LONG :
			                         SMTP_R_LINE_TOO_LONG);
			smtpd_auth_end(s);
		}
		s->discard_line = true;
		buf_reset(&s->in);
	}
	return len;
}

static void smtpd_read(struct smtpd_session *s);

/*
 * More input without waiting: decrypted bytes that mbedTLS holds are
 * invisible to epoll (the socket is already drained).
 */
static bool
smtpd_read_more(struct smtpd_session *s)
{
	size_t before = buf_size(&s->in);

	if (!smtpd_tls_active(s) || !smtpd_tls_pending(s)) {
		return false;
	}
	smtpd_read(s);
	return buf_size(&s->in) > before;
}

static void
smtpd_run(struct smtpd_session *s)
{
	int fd = s->io.fd;
	size_t len;

	while (s->state != SMTPD_S_CLOSING && !s->write_blocked && !s->paused) {
		if (smtpd_stopping && !smtpd_session_busy(s) &&
		    s->state != SMTPD_S_DRAIN) {
			smtpd_reply_close(s, SMTP_R_SHUTDOWN,
			    smtpd_hostname(s));
			break;
		}
		if (buf_room(&s->out) < SMTPD_REPLY_MAX) {
			if (!smtpd_flush(s, fd)) {
				return;
			}
			continue;
		}
		if (s->chunk_active) {
			if (!smtpd_bdat_feed(s)) {
				if (smtpd_read_more(s)) {
					continue;
				}
				break;
			}
			continue;
		}
		if (s->state == SMTPD_S_DATA) {
			if (!smtpd_data_feed(s)) {
				if (smtpd_read_more(s)) {
					continue;
				}
				break;
			}
			continue;
		}
		len = smtpd_next_line(s);
		if (len == 0) {
			if (smtpd_read_more(s)) {
				continue;
			}
			break;
		}
		if (s->discard_line) {
			s->discard_line = false;
		} else {
			smtpd_command(s, buf_data(&s->in), len);
		}
		if (s->retry_cmd) {
			s->retry_cmd =
			    false; /* again when the journal has room */
			break;
		}
		buf_consume(&s->in, len);
		if (s->tls_hs != NULL) {
			smtpd_tls_start(s); /* STARTTLS answered */
			return;
		}
		if (s->srv->max_errors != 0 &&
		    s->errors >= s->srv->max_errors &&
		    s->state != SMTPD_S_CLOSING) {
			smtpd_reply_close(s, SMTP_R_TOO_MANY_ERRORS,
			    smtpd_hostname(s));
		}
	}
	if (!smtpd_flush(s, fd)) {
		return;
	}
	if (s->input_eof && s->state != SMTPD_S_CLOSING && !s->paused) {
		smtpd_close(s,
		    s->state == SMTPD_S_DATA || s->chunk_active ?
		        "eof-in-data" :
		        "eof");
	}
}

static void
smtpd_read(struct smtpd_session *s)
{
	ssize_t r;

	buf_compact(&s->in);
	if (buf_room(&s->in) == 0) {
		return;
	}
	r = smtpd_io_read(s, buf_tail(&s->in), buf_room(&s->in));
	if (r > 0) {
		buf_commit(&s->in, (size_t)r);
		smtpd_arm_timer(s);
	} else if (r == 0 || r != -EAGAIN) {
		s->input_eof = true;
	}
}

static void
smtpd_greet(struct smtpd_session *s)
{
	if (net_pending(s->io.fd)) {
		log_info("%s smtp in pregreet client=%s", s->id, s->peer_ip);
		smtpd_reply_close(s, SMTP_R_PREGREET, smtpd_hostname(s));
	} else {
		smtpd_reply(s, SMTP_R_GREETING, smtpd_hostname(s));
		smtpd_set_state(s, SMTPD_S_CONNECTED);
		smtpd_arm_timer(s);
	}
	smtpd_flush(s, s->io.fd);
}

static void
smtpd_on_io(struct ev_io *io, uint32_t events)
{
	struct smtpd_session *s = container_of(io, struct smtpd_session, io);

	if (s->tls_hs != NULL) {
		smtpd_tls_on_io(s, events);
		return;
	}
	if (s->state == SMTPD_S_GREET_WAIT) {
		smtpd_greet(s); /* input before the greeting: refused there */
		return;
	}
	if (s->state == SMTPD_S_DRAIN) {
		smtpd_drain(s);
		return;
	}
	if (events & EPOLLOUT) {
		if (!smtpd_flush(s, io->fd)) {
			return;
		}
	}
	if (!s->write_blocked && !s->paused &&
	    (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		smtpd_read(s);
	}
	smtpd_run(s);
}

static void
smtpd_on_timer(struct ev_timer *t)
{
	struct smtpd_session *s = container_of(t, struct smtpd_session, timer);

	if (s->state == SMTPD_S_GREET_WAIT) {
		smtpd_greet(s);
		return;
	}
	if (s->state == SMTPD_S_DRAIN) {
		smtpd_close(s, "closed");
		return;
	}
	log_info("%s smtp in timeout state=%s", s->id,
	    s->tls_hs != NULL ? "tls-handshake" : smtpd_state_names[s->state]);
	if (s->state == SMTPD_S_CLOSING || s->write_blocked ||
	    s->tls_hs != NULL) {
		smtpd_close(s, "timeout"); /* the client does not read */
		return;
	}
	smtpd_txn_end(s);
	smtpd_reply_close(s, SMTP_R_TIMEOUT, smtpd_hostname(s));
	smtpd_flush(s, s->io.fd);
}

static void
smtpd_arm_timer(struct smtpd_session *s)
{
	ev_timer_start(&s->timer,
	    s->state == SMTPD_S_DATA || s->chunk_active ?
	        s->srv->timeout_data_ms :
	        s->srv->timeout_command_ms,
	    smtpd_on_timer);
}

/* The session is set up (peer, server, fd in io.fd); greet or wait. */
void
smtpd_session_start(struct smtpd_session *s)
{
	int fd = s->io.fd;

	buf_init(&s->in, s->inmem, sizeof(s->inmem));
	buf_init(&s->out, s->outmem, sizeof(s->outmem));
	rand_id(s->id);
	net_addr_host(&s->peer, s->peer_ip, sizeof(s->peer_ip));
	log_info("%s smtp in connect client=%s server=%s", s->id, s->peer_ip,
	    s->srv->name);
	if (ev_io_start(&s->io, fd, EPOLLIN, smtpd_on_io) < 0) {
		net_close(fd);
		smtpd_session_free(s);
		return;
	}
	s->state = SMTPD_S_GREET_WAIT;
	if (s->srv->greeting_delay_ms > 0) {
		ev_timer_start(&s->timer, s->srv->greeting_delay_ms,
		    smtpd_on_timer);
		return;
	}
	smtpd_greet(s);
}

static void
smtpd_wake(struct queue_waiter *w)
{
	smtpd_resume(container_of(w, struct smtpd_session, qwait));
}

/*
 * Before a command appends to the journal: if its buffers are full,
 * pause; the command runs again, whole, once there is room (waiting is
 * back-pressure, never a refusal).
 */
bool
smtpd_journal_ready(struct smtpd_session *s, size_t bytes)
{
	s->qwait.fn = smtpd_wake;
	if (queue_body_ready(bytes, &s->qwait)) {
		return true;
	}
	s->retry_cmd = true;
	smtpd_pause(s);
	return false;
}

bool
smtpd_session_busy(const struct smtpd_session *s)
{
	return s->state == SMTPD_S_DATA || s->state == SMTPD_S_COMMIT ||
	    s->chunk_active;
}

void
smtpd_pause(struct smtpd_session *s)
{
	s->paused = true;
	if (!s->write_blocked) {
		ev_io_set(&s->io, 0);
	}
}

void
smtpd_resume(struct smtpd_session *s)
{
	s->paused = false;
	if (!s->write_blocked) {
		ev_io_set(&s->io, EPOLLIN);
	}
	smtpd_run(s);
}

/* Shut-down: tell the client (best effort, no waiting) and go. */
void
smtpd_session_kick(struct smtpd_session *s)
{
	if (s->state != SMTPD_S_DRAIN && s->state != SMTPD_S_CLOSING &&
	    s->tls_hs == NULL) {
		buf_reset(&s->out);
		smtpd_reply(s, SMTP_R_SHUTDOWN, smtpd_hostname(s));
		(void)smtpd_io_write(s, buf_data(&s->out), buf_size(&s->out));
	}
	smtpd_close(s, "shutdown");
}
