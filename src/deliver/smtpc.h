/*
 * smtpc.h — inside the deliver part: the SMTP client (relaying). Other
 * parts see it only as the agent deliver_init() hands to the scheduler.
 */
#ifndef TERN_SMTPC_H
#define TERN_SMTPC_H

#include "deliver/deliver.h"

#define SMTPC_LINE_MAX 1024

#define SMTPC_CAP_PIPELINING 0x01u
#define SMTPC_CAP_CHUNKING 0x02u
#define SMTPC_CAP_8BITMIME 0x04u
#define SMTPC_CAP_SMTPUTF8 0x08u
#define SMTPC_CAP_SIZE 0x10u
#define SMTPC_CAP_DSN 0x100u /* RFC 3461 */

struct smtpc_reply {
	unsigned code;
	unsigned lines;
	unsigned caps; /* EHLO: SMTPC_CAP_* offered */
	uint64_t size; /* EHLO: SIZE limit, 0 for none */
	char text[200];
};

/*
 * One complete reply from buf: 1 (and *used), 0 when more input is
 * needed, -1 when the peer does not speak SMTP. With ehlo, the keywords.
 */
int smtpc_reply_parse(const char *buf, size_t len, bool ehlo,
    struct smtpc_reply *r, size_t *used);

#endif
