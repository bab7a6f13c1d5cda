/*
 * sasl_login.c — LOGIN (draft-murchison-sasl-login): "Username:" and
 * "Password:" prompts, each answered in its own line. An initial response
 * is taken as the user name (a common client habit).
 */
#include <string.h>

#include "sasl/sasl.h"

static enum sasl_rc
sasl_login_step(struct sasl_srv *x, const uint8_t *in, size_t len, bool has_in,
    uint8_t *out, size_t *outlen)
{
	static const char user_prompt[] = "Username:",
	                  pw_prompt[] = "Password:";

	if (x->step == 0 && !has_in) {
		x->step = 1;
		memcpy(out, user_prompt, sizeof(user_prompt) - 1);
		*outlen = sizeof(user_prompt) - 1;
		return SASL_CONTINUE;
	}
	if (x->step <= 1) {
		if (len == 0 || len > SASL_USER_MAX ||
		    memchr(in, '\0', len) != NULL) {
			return SASL_BAD;
		}
		memcpy(x->user, in, len);
		x->user[len] = '\0';
		x->step = 2;
		memcpy(out, pw_prompt, sizeof(pw_prompt) - 1);
		*outlen = sizeof(pw_prompt) - 1;
		return SASL_CONTINUE;
	}
	*outlen = 0;
	return sasl_srv_password(x, x->user, strlen(x->user), (const char *)in,
	    len);
}

const struct sasl_mech sasl_login = { "LOGIN", CONF_AUTH_LOGIN,
	sasl_login_step };
