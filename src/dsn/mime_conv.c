/*
 * mime_conv.c — the 8bit/binary -> 7bit converter (RFC 6152 3, RFC 3030
 * 3, RFC 2045-2049): one streaming walk over a message, run twice. The
 * plan pass finds, for each entity, whether its body is 7bit already and,
 * if not, how to encode it (text/... quoted-printable, the rest base64),
 * or why it cannot be converted; the emit pass writes the result (or only
 * counts it, so that SIZE= is exact).
 *
 * The walk works on lines. A line ends at CRLF, LF or a CR not followed
 * by LF (as Python's email package reads them). The first
 * MIME_LINE_PEEK bytes of each line are kept to recognise the boundary
 * lines of every open multipart (innermost first; an outer boundary ends
 * the inner ones, RFC 2046 5.1.2); the rest streams. The line end before
 * a boundary line belongs to the delimiter, so a line end is held until
 * the next line says whether it is content.
 *
 * Decisions (see README "8BITMIME, BINARYMIME and conversion"):
 * - only leaf bodies are re-encoded; headers, boundaries, preambles and
 *   epilogues are copied (header line ends become CRLF);
 * - a body is "not 7bit" when it has an octet >= 128, a NUL, a bare CR
 *   or LF, or a line over 998 octets (RFC 5322 2.1.1, RFC 2045 2.7);
 * - text/... without NUL or bare CR/LF, not declared binary, becomes
 *   quoted-printable; every other body base64;
 * - a multipart/... or message/rfc822 declared 8bit or binary is relabelled
 *   7bit, and so is a leaf declared so whose content is 7bit;
 * - impossible (5.6.3): 8-bit or NUL in a header (no RFC 2047 encoding:
 *   structured fields cannot be encoded without changing them), a header
 *   line over 998 octets, 8-bit data in a message without MIME-Version,
 *   in a body already labelled quoted-printable/base64/unknown, in a
 *   message/partial or external-body, in a preamble or epilogue, in a
 *   multipart that cannot be walked (no or duplicate boundary, nested
 *   deeper than MIME_DEPTH_MAX, a header field too long to read), or in a
 *   message with more than MIME_ENTITIES_MAX header sections.
 */
#include <string.h>

#include "dsn/dsn.h"

#define MIME_LINE_MAX 998 /* RFC 5322 2.1.1, without the CRLF */

/* one per outbound connection (src/deliver/smtpc.h) */
_Static_assert(sizeof(struct mime_conv) <= 3072, "mime_conv grew");

enum mime_state { MIME_S_HDR, MIME_S_LEAF, MIME_S_PRE, MIME_S_EPI };

/* r_flags: why a region is not 7bit */
#define MIME_F_8BIT 0x01u
#define MIME_F_NUL 0x02u
#define MIME_F_BARE 0x04u /* bare CR or LF */
#define MIME_F_LONG 0x08u

/* c->h_want: the field whose value is collected */
#define MIME_W_NONE 0
#define MIME_W_CTYPE 1
#define MIME_W_CTE 2

static bool
mime_conv_emit(const struct mime_conv *c)
{
	return c->pass == MIME_PASS_EMIT;
}

static void
mime_conv_fail(struct mime_conv *c, const char *why)
{
	if (c->why == NULL) {
		c->why = why;
	}
}

static void
mime_conv_put(struct mime_conv *c, struct mime_out *o, const void *p, size_t n)
{
	if (mime_conv_emit(c)) {
		mime_out_put(o, p, n);
	}
}

static enum mime_action
mime_conv_planned(const struct mime_conv *c)
{
	uint32_t i = c->entity - 1;

	return i < MIME_ENTITIES_MAX ? (enum mime_action)c->plan[i] :
	                               MIME_A_KEEP;
}

static void
mime_conv_set_plan(struct mime_conv *c, enum mime_action a)
{
	uint32_t i = c->entity - 1;

	if (c->pass == MIME_PASS_PLAN && i < MIME_ENTITIES_MAX) {
		c->plan[i] = (uint8_t)a;
	}
}

/* ---- header sections ---------------------------------------------- */

static void
mime_conv_hdr_start(struct mime_conv *c, bool msg, bool digest)
{
	c->state = MIME_S_HDR;
	c->entity = ++c->nentities;
	c->msg_header = msg;
	c->part_digest = digest;
	c->h_mime_version = c->h_ctype_seen = c->h_cte_seen = false;
	c->h_bad = c->h_drop = false;
	c->h_want = MIME_W_NONE;
	memset(&c->ct, 0, sizeof(c->ct));
	c->cte = MIME_CTE_NONE;
	c->field_len = 0;
	c->held_eol = 0;
}

/* The field being collected is complete: what it says. */
static void
mime_conv_field_done(struct mime_conv *c)
{
	if (c->h_want == MIME_W_CTYPE && !c->h_bad) {
		mime_ctype_parse(c->field, c->field_len, &c->ct);
	} else if (c->h_want == MIME_W_CTE && !c->h_bad) {
		c->cte = mime_cte_parse(c->field, c->field_len);
	}
	c->h_want = MIME_W_NONE;
	c->field_len = 0;
}

static void
mime_conv_field_add(struct mime_conv *c, const char *p, size_t n)
{
	if (c->h_want == MIME_W_NONE) {
		return;
	}
	if (n > sizeof(c->field) - c->field_len) {
		c->h_bad = true; /* cannot be read: the entity is opaque */
		return;
	}
	memcpy(c->field + c->field_len, p, n);
	c->field_len += n;
}

static void
mime_conv_hdr_bytes(struct mime_conv *c, const char *p, size_t n,
    struct mime_out *o)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if ((unsigned char)p[k] >= 128 || p[k] == '\0') {
			c->dirty = true;
			mime_conv_fail(c,
			    "8-bit data or NUL in a header field");
		}
	}
	mime_conv_field_add(c, p, n);
	if (!c->h_drop) {
		mime_conv_put(c, o, p, n);
	}
}

/* A header line starts with peek[]: a field, a continuation, or not. */
static bool
mime_conv_hdr_line(struct mime_conv *c, struct mime_out *o)
{
	int name;

	if (c->peek_len > 0 && (c->peek[0] == ' ' || c->peek[0] == '\t')) {
		mime_conv_field_add(c, " ", 1); /* unfolded */
		mime_conv_hdr_bytes(c, c->peek, c->peek_len, o);
		return true;
	}
	mime_conv_field_done(c);
	name = mime_field_name(c->peek, c->peek_len);
	if (name < 0) {
		return false; /* the header section ends before this line */
	}
	c->h_drop = false;
	if (str_ieq(c->peek, (size_t)name, "Content-Type", 12)) {
		c->h_want = c->h_ctype_seen ? MIME_W_NONE : MIME_W_CTYPE;
		c->h_ctype_seen = true;
	} else if (str_ieq(c->peek, (size_t)name, "Content-Transfer-Encoding",
	               25)) {
		c->h_want = c->h_cte_seen ? MIME_W_NONE : MIME_W_CTE;
		c->h_cte_seen = true;
		c->h_drop = mime_conv_emit(c) &&
		    mime_conv_planned(c) != MIME_A_KEEP;
	} else if (str_ieq(c->peek, (size_t)name, "MIME-Version", 12)) {
		c->h_mime_version = true;
	}
	if (!c->h_drop) {
		mime_conv_put(c, o, c->peek, (size_t)name + 1);
	}
	c->field_len = 0;
	mime_conv_hdr_bytes(c, c->peek + name + 1,
	    c->peek_len - (size_t)name - 1, o);
	return true;
}

static void
mime_conv_hdr_eol(struct mime_conv *c, struct mime_out *o)
{
	if (c->line_len > MIME_LINE_MAX) {
		c->long_header = true; /* the 7bit text would not be legal */
	}
	mime_conv_field_add(c, " ", 1);
	if (!c->h_drop) {
		mime_conv_put(c, o, "\r\n", 2);
	}
}

/* ---- body regions --------------------------------------------------- */

static void
mime_conv_region_start(struct mime_conv *c, enum mime_state st)
{
	c->state = (uint8_t)st;
	c->r_flags = 0;
	c->r_out = false;
	c->held_eol = 0;
	c->r_how = st == MIME_S_LEAF && mime_conv_emit(c) ?
	    mime_conv_planned(c) :
	    MIME_A_KEEP;
	if (c->r_how == MIME_A_QP || c->r_how == MIME_A_B64) {
		mime_enc_start(&c->enc, c->r_how);
	} else {
		c->r_how = MIME_A_KEEP;
	}
}

static void
mime_conv_region_bytes(struct mime_conv *c, const char *p, size_t n,
    struct mime_out *o)
{
	unsigned hi = 0, nul = 0;
	size_t k;

	if (!mime_conv_emit(c)) {
		for (k = 0; k < n; k++) { /* the plan pass learns */
			hi |= (unsigned char)p[k];
			nul |= p[k] == '\0';
		}
		c->r_flags |= (hi & 0x80 ? MIME_F_8BIT : 0) |
		    (nul ? MIME_F_NUL : 0);
		return;
	}
	if (n == 0) {
		return;
	}
	c->r_out = true;
	if (c->r_how == MIME_A_KEEP) {
		mime_out_put(o, p, n);
	} else {
		mime_enc_put(&c->enc, (const unsigned char *)p, n, o);
	}
}

/* The line end held: content after all (a line follows, or the end). */
static void
mime_conv_region_held(struct mime_conv *c, struct mime_out *o)
{
	if (c->held_eol == 1) {
		c->r_flags |= MIME_F_BARE;
	}
	if (c->held_eol > 0) {
		if (c->r_how == MIME_A_KEEP) {
			/* a clean region has only CRLF; others never copy */
			mime_conv_region_bytes(c, "\r\n", 2, o);
		} else {
			mime_conv_region_bytes(c, c->held, c->held_eol, o);
		}
		c->held_eol = 0;
	}
}

/* What the plan pass learnt of the leaf now ending. */
static void
mime_conv_leaf_plan(struct mime_conv *c)
{
	bool binary = (c->r_flags & (MIME_F_NUL | MIME_F_BARE)) != 0 ||
	    c->cte == MIME_CTE_BINARY;

	if (c->r_flags == 0) {
		mime_conv_set_plan(c,
		    c->cte == MIME_CTE_8BIT || c->cte == MIME_CTE_BINARY ?
		        MIME_A_7BIT :
		        MIME_A_KEEP);
		return;
	}
	c->dirty = true;
	if (c->r_why != NULL) {
		mime_conv_fail(c, c->r_why);
		return;
	}
	mime_conv_set_plan(c, c->r_text && !binary ? MIME_A_QP : MIME_A_B64);
}

/* The region ends at a boundary line, or at the end of the text. */
static void
mime_conv_region_end(struct mime_conv *c, bool eof, struct mime_out *o)
{
	if (eof) {
		mime_conv_region_held(c, o); /* content, not a delimiter */
	}
	if (c->pass == MIME_PASS_PLAN) {
		if (c->state == MIME_S_LEAF) {
			mime_conv_leaf_plan(c);
		} else if (c->r_flags != 0 || c->held_eol == 1) {
			/* copied with CRLF: a bare line end would change */
			c->dirty = true;
			mime_conv_fail(c,
			    "8-bit data, NUL or a bare CR/LF outside the MIME "
			    "parts (preamble or epilogue)");
		}
		return;
	}
	if (c->r_how != MIME_A_KEEP) {
		mime_enc_end(&c->enc, eof, o);
		c->r_out = c->r_out || c->enc.any;
	}
	if (!eof && (c->held_eol > 0 || c->r_out)) {
		mime_out_put(o, "\r\n", 2); /* the delimiter's CRLF */
	}
	c->held_eol = 0;
}

/* ---- the structure ------------------------------------------------- */

/* Can the body of this header section be walked as a composite? */
static bool
mime_conv_walkable(struct mime_conv *c)
{
	uint32_t k;

	if (c->h_bad ||
	    (c->cte != MIME_CTE_NONE && c->cte != MIME_CTE_7BIT &&
	        c->cte != MIME_CTE_8BIT && c->cte != MIME_CTE_BINARY)) {
		return false; /* RFC 2045 6.4: composites are not encoded */
	}
	if (c->ct.kind == MIME_K_RFC822) {
		return true;
	}
	if (c->ct.boundary_len == 0 || c->depth >= MIME_DEPTH_MAX) {
		return false;
	}
	for (k = 0; k < c->depth; k++) {
		/* RFC 2046 5.1.2: an inner boundary must not be an outer's */
		size_t n = MIN(c->frames[k].len, c->ct.boundary_len);

		if (memcmp(c->frames[k].boundary, c->ct.boundary, n) == 0) {
			c->ambiguous = true; /* readers differ: do not guess */
			return false;
		}
	}
	return true;
}

static const char *
mime_conv_leaf_why(const struct mime_conv *c)
{
	if (!c->is_mime) {
		return "8-bit data in a message that is not MIME (no "
		       "MIME-Version)";
	}
	if (c->ct.kind == MIME_K_MULTIPART || c->ct.kind == MIME_K_RFC822 ||
	    c->h_bad) {
		return "8-bit data in a multipart or message that cannot be "
		       "parsed (boundary missing or reused, nesting too "
		       "deep, header field too long, or encoded)";
	}
	if (c->ct.kind == MIME_K_MSG_STRICT) {
		return "8-bit data in a message/partial or "
		       "message/external-body";
	}
	if (c->cte == MIME_CTE_QP || c->cte == MIME_CTE_BASE64 ||
	    c->cte == MIME_CTE_OTHER) {
		return "8-bit data in a body already labelled with a "
		       "transfer encoding";
	}
	return NULL;
}

static void
mime_conv_hdr_emit_cte(struct mime_conv *c, struct mime_out *o)
{
	static const char *const names[] = { NULL, "7bit", "quoted-printable",
		"base64" };
	enum mime_action a = mime_conv_planned(c);

	if (mime_conv_emit(c) && a != MIME_A_KEEP) {
		mime_out_put(o, "Content-Transfer-Encoding: ", 27);
		mime_out_put(o, names[a], strlen(names[a]));
		mime_out_put(o, "\r\n", 2);
	}
	mime_conv_put(c, o, "\r\n", 2);
}

/* The header section ends (a blank line, a line that is no field, EOF). */
static void
mime_conv_hdr_end(struct mime_conv *c, struct mime_out *o)
{
	bool composite_8 = c->cte == MIME_CTE_8BIT || c->cte == MIME_CTE_BINARY;
	struct mime_frame *f;

	mime_conv_field_done(c);
	if (c->entity > MIME_ENTITIES_MAX) {
		c->overflow = true;
	}
	if (!c->h_ctype_seen) {
		c->ct.kind = c->part_digest ? MIME_K_RFC822 : MIME_K_TEXT;
	}
	if (c->msg_header) {
		c->is_mime = c->h_mime_version;
	}
	if ((c->ct.kind == MIME_K_MULTIPART || c->ct.kind == MIME_K_RFC822) &&
	    mime_conv_walkable(c)) {
		mime_conv_set_plan(c, composite_8 ? MIME_A_7BIT : MIME_A_KEEP);
		mime_conv_hdr_emit_cte(c, o);
		if (c->ct.kind == MIME_K_RFC822) {
			mime_conv_hdr_start(c, true, false);
			return;
		}
		f = &c->frames[c->depth++];
		memcpy(f->boundary, c->ct.boundary, c->ct.boundary_len);
		f->len = c->ct.boundary_len;
		f->digest = c->ct.digest;
		f->is_mime = c->is_mime;
		mime_conv_region_start(c, MIME_S_PRE);
		return;
	}
	mime_conv_hdr_emit_cte(c, o);
	c->r_text = c->ct.kind == MIME_K_TEXT;
	c->r_why = mime_conv_leaf_why(c);
	mime_conv_region_start(c, MIME_S_LEAF);
}

/*
 * Whatever is open ends: a header section first becomes its body. At the
 * end of the text inside a multipart never closed, the last line end is
 * not content but the end of the part, as at a boundary (so Python's
 * email package reads it).
 */
static void
mime_conv_close(struct mime_conv *c, bool at_end, struct mime_out *o)
{
	while (c->state == MIME_S_HDR) {
		mime_conv_hdr_end(c, o);
	}
	/* a multipart whose boundary never came is read as one body */
	mime_conv_region_end(c,
	    at_end && (c->depth == 0 || c->state == MIME_S_PRE), o);
}

/* peek[] is a boundary line of frame i: 1 "--b", 2 "--b--". */
static void
mime_conv_boundary(struct mime_conv *c, uint32_t i, int kind,
    struct mime_out *o)
{
	const struct mime_frame *f = &c->frames[i];

	if (c->state == MIME_S_HDR) {
		c->held_eol = 0; /* a header line's end is its own */
	}
	mime_conv_close(c, false, o);
	mime_conv_put(c, o, c->peek, c->peek_len);
	mime_conv_put(c, o, "\r\n", 2);
	c->is_mime = f->is_mime;
	if (kind == 2) {
		c->depth = (uint8_t)i; /* it and every inner one are closed */
		mime_conv_region_start(c, MIME_S_EPI);
		return;
	}
	c->depth = (uint8_t)(i + 1);
	mime_conv_hdr_start(c, false, f->digest);
}

/* ---- lines ------------------------------------------------------------- */

/* The start of a line is in peek[]: where it goes. */
static void
mime_conv_line_start(struct mime_conv *c, struct mime_out *o)
{
	uint32_t i;
	int kind;

	c->in_line = true;
	for (i = c->depth; i-- > 0 && c->peek_len >= 2 && c->peek[0] == '-';) {
		kind = mime_boundary_match(c->peek, c->peek_len,
		    c->frames[i].boundary, c->frames[i].len);
		if (kind > 0) {
			c->boundary_line = true;
			mime_conv_boundary(c, i, kind, o);
			return;
		}
	}
	if (c->state == MIME_S_HDR) {
		if (c->peek_len == 0 && c->line_complete) {
			c->blank_line = true;
			mime_conv_hdr_end(c, o);
			return;
		}
		if (mime_conv_hdr_line(c, o)) {
			return;
		}
		mime_conv_hdr_end(c, o); /* RFC 5322 2.1: the body starts */
		while (c->state == MIME_S_HDR) {
			mime_conv_hdr_end(c, o);
		}
	}
	mime_conv_region_held(c, o);
	mime_conv_region_bytes(c, c->peek, c->peek_len, o);
}

/* More bytes of a line whose start was placed. */
static void
mime_conv_line_more(struct mime_conv *c, const char *p, size_t n,
    struct mime_out *o)
{
	if (c->boundary_line || c->blank_line) {
		return; /* only white space can follow: dropped */
	}
	if (c->state == MIME_S_HDR) {
		mime_conv_hdr_bytes(c, p, n, o);
	} else {
		mime_conv_region_bytes(c, p, n, o);
	}
}

/* The line ends with eol (0: the end of the text). */
static void
mime_conv_line_end(struct mime_conv *c, const char *eol, size_t n,
    struct mime_out *o)
{
	if (!c->in_line) {
		c->line_complete = true;
		mime_conv_line_start(c, o);
	}
	if (n == 1 &&
	    (c->boundary_line || c->blank_line || c->state == MIME_S_HDR)) {
		c->dirty = true; /* 7bit has CRLF only: this one is rewritten */
	}
	if (!c->boundary_line && !c->blank_line) {
		if (c->state == MIME_S_HDR) {
			mime_conv_hdr_eol(c, o);
		} else {
			if (c->line_len > MIME_LINE_MAX) {
				c->r_flags |= MIME_F_LONG;
			}
			memcpy(c->held, eol, n);
			c->held_eol = (uint8_t)n;
		}
	}
	c->in_line = c->line_complete = false;
	c->boundary_line = c->blank_line = false;
	c->peek_len = 0;
	c->line_len = 0;
}

static void
mime_conv_byte(struct mime_conv *c, char b, struct mime_out *o)
{
	if (c->line_cr) {
		c->line_cr = false;
		if (b == '\n') {
			mime_conv_line_end(c, "\r\n", 2, o);
			return;
		}
		mime_conv_line_end(c, "\r", 1, o);
	}
	if (b == '\r') {
		c->line_cr = true;
		return;
	}
	if (b == '\n') {
		mime_conv_line_end(c, "\n", 1, o);
		return;
	}
	c->line_len++;
	if (c->in_line) {
		mime_conv_line_more(c, &b, 1, o);
		return;
	}
	c->peek[c->peek_len++] = b;
	/* a body line that cannot be a boundary need not be kept */
	if (c->peek_len == sizeof(c->peek) ||
	    (c->state != MIME_S_HDR &&
	        (c->depth == 0 || c->peek[0] != '-' ||
	            (c->peek_len == 2 && b != '-')))) {
		mime_conv_line_start(c, o);
	}
}

void
mime_conv_start(struct mime_conv *c, enum mime_pass pass)
{
	uint8_t plan[MIME_ENTITIES_MAX];

	memcpy(plan, c->plan, sizeof(plan));
	memset(c, 0, sizeof(*c));
	if (pass == MIME_PASS_EMIT) {
		memcpy(c->plan, plan, sizeof(plan));
	}
	c->pass = pass;
	mime_conv_hdr_start(c, true, false);
}

size_t
mime_conv_feed(struct mime_conv *c, const void *in, size_t n,
    struct mime_out *o)
{
	const char *p = in;
	size_t k;

	for (k = 0; k < n; k++) {
		if (o->p != NULL && o->cap - o->len < MIME_OUT_RESERVE) {
			break;
		}
		/* the rest of a long line goes in one run */
		if (c->in_line && !c->line_cr && p[k] != '\r' && p[k] != '\n') {
			size_t e = k + 1, lim = n;

			if (o->p != NULL) {
				lim = MIN(n,
				    k +
				        (o->cap - o->len - MIME_OUT_RESERVE) /
				            4 +
				        1);
			}
			while (e < lim && p[e] != '\r' && p[e] != '\n') {
				e++;
			}
			c->line_len += e - k;
			mime_conv_line_more(c, p + k, e - k, o);
			k = e - 1;
			continue;
		}
		mime_conv_byte(c, p[k], o);
	}
	return k;
}

void
mime_conv_end(struct mime_conv *c, struct mime_out *o)
{
	if (c->line_cr) {
		c->line_cr = false;
		mime_conv_line_end(c, "\r", 1, o);
	}
	if (c->peek_len > 0 || c->in_line) {
		mime_conv_line_end(c, "", 0, o);
	}
	mime_conv_close(c, true, o);
	if (c->pass != MIME_PASS_PLAN) {
		return;
	}
	if (c->why == NULL && c->dirty && c->overflow) {
		c->why = "too many MIME parts to convert";
	}
	if (c->why == NULL && c->dirty && c->long_header) {
		c->why = "a header line longer than 998 octets";
	}
	if (c->why == NULL && c->dirty && c->ambiguous) {
		c->why = "a multipart reuses the boundary of an enclosing one";
	}
	c->verdict = c->why != NULL ? MIME_V_IMPOSSIBLE :
	    c->dirty                ? MIME_V_CONVERT :
	                              MIME_V_CLEAN;
}
