/*
 * Address rules shared by the module, the sender, the simulator and the
 * tools: the "whatsapp:" prefix Twilio puts on WhatsApp addresses, and what
 * an e-mail address must look like (the directive and the API agree).
 */
#ifndef BC_ADDR_H
#define BC_ADDR_H

#include <stddef.h>

#define BC_WA_PREFIX      "whatsapp:"
#define BC_WA_PREFIX_LEN  (sizeof(BC_WA_PREFIX) - 1)

/* longest e-mail address we take (RFC 5321's path limit less the <>) */
#define BC_EMAIL_MAX      254

/* 1 if s (len bytes) starts with "whatsapp:" in any case */
int bc_wa_prefixed(const char *s, size_t len);

/* addr without a leading "whatsapp:" (exact case, as we store it) */
const char *bc_wa_strip(const char *addr);

/*
 * 1 if s is local@domain: no spaces, controls or RFC 5322 specials, one
 * '@', neither part empty, a dot inside the domain and no empty labels, at
 * most BC_EMAIL_MAX bytes. out (BC_EMAIL_MAX + 1 bytes, or NULL) gets the
 * lower-cased address.
 */
int bc_email_valid(const char *s, size_t len, char *out);

/*
 * The address of a mailbox as mail headers write it: "Ann <ann@example.com>"
 * (the last <...>) or a bare address, surrounding blanks ignored. 1 and
 * the lower-cased address in out (BC_EMAIL_MAX + 1 bytes) if it is one
 * bc_email_valid() takes, else 0.
 */
int bc_email_mailbox(const char *s, size_t len, char *out);

#endif /* BC_ADDR_H */
