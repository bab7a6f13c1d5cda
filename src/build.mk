# The objects of tern, by part. A Kconfig option takes whole files out:
#   obj-$(CONFIG_X) += part/file.o

obj-y += main.o
obj-y += core/arena.o core/pool.o core/buf.o core/ev.o core/log.o core/str.o \
	core/rand.o core/date.o core/crc32c.o core/fs.o
obj-y += net/net_sock.o
obj-y += tls/tls_version.o tls/tls_entropy.o
obj-$(CONFIG_TLS) += tls/tls_ctx.o tls/tls_conn.o smtp/smtpd_tls.o \
	deliver/smtpc_tls.o
obj-$(CONFIG_SASL) += tls/tls_crypto.o
obj-y += conf/conf_parse.o conf/conf_build.o conf/conf_load.o conf/conf_route.o \
	conf/conf_tls.o conf/conf_auth.o conf/conf_reload.o
obj-y += smtp/smtp_reply.o smtp/smtp_cmd.o smtp/smtp_path.o \
	smtp/smtp_param.o smtp/smtp_data.o
obj-y += smtp/smtpd_listen.o smtp/smtpd_session.o smtp/smtpd_cmd.o \
	smtp/smtpd_data.o
obj-y += queue/jrnl_rec.o queue/jrnl_write.o queue/jrnl_recover.o \
	queue/qidx.o queue/queue_msg.o queue/queue_read.o \
	queue/queue_copy.o
obj-$(CONFIG_DEBUG_FAULTS) += queue/jrnl_fault.o
obj-$(if $(CONFIG_DEBUG_FAULTS),,y) += queue/jrnl_io.o
obj-y += route/dsched.o route/dsched_carry.o route/router.o route/route_targets.o
obj-y += route/dnsc_msg.o route/dnsc_cache.o route/dnsc.o route/dnsc_mx.o \
	route/dnsc_cli.o
obj-$(CONFIG_DSN) += dsn/dsn_report.o dsn/dsn.o
obj-y += dsn/mime_scan.o dsn/mime_enc.o dsn/mime_conv.o
obj-y += deliver/deliver_local.o deliver/smtpc.o deliver/smtpc_conn.o \
	deliver/smtpc_body.o deliver/smtpc_reply.o \
	deliver/smtpc_mime.o
obj-$(CONFIG_SMTP_CHUNKING) += smtp/smtpd_bdat.o
obj-y += admin/admin_ctl.o admin/admin_client.o
obj-$(CONFIG_SASL) += sasl/sasl.o sasl/sasl_userdb.o sasl/sasl_crypt.o \
	sasl/sasl_md4.o sasl/sasl_client.o smtp/smtpd_auth.o admin/admin_user.o \
	deliver/smtpc_auth.o
obj-$(CONFIG_SASL_PLAIN) += sasl/sasl_plain.o
obj-$(CONFIG_SASL_LOGIN) += sasl/sasl_login.o
obj-$(CONFIG_SASL_CRAM_MD5) += sasl/sasl_cram.o
obj-$(CONFIG_SASL_SCRAM) += sasl/sasl_scram.o
obj-$(CONFIG_SASL_NTLM) += sasl/sasl_ntlm.o
