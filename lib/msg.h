/* msg.h - rendered bytes shared by reference count.
 * An event is rendered once; every connection that receives it holds a
 * reference to the same msg, never a copy. */
#ifndef SLUICE_MSG_H
#define SLUICE_MSG_H

#include <stddef.h>
#include <stdint.h>

struct msg {
	unsigned	refs;		/* atomic */
	uint32_t	len;
	char		data[];		/* len bytes, then a NUL */
};

struct msg *msg_new(const void *p, size_t len);
struct msg *msg_ref(struct msg *m);
void msg_unref(struct msg *m);

#endif
