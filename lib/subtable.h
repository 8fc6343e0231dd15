/* subtable.h - the subscription table: routing key -> subscriptions.
 * Readers run inside rcu_read_lock() and never block; writers are
 * serialised by the table, append and remove in place, and rebuild a
 * key's array only when it is full or mostly holes (the old one freed
 * after a grace period). */
#ifndef SLUICE_SUBTABLE_H
#define SLUICE_SUBTABLE_H

#include <stddef.h>

struct subtable_ent {
	void	*stream;	/* the stream the subscription belongs to */
	void	*sub;		/* the subscription itself */
};

struct subtable;

struct subtable *subtable_new(void);
/* Call after rcu_barrier(), when no reader is left. */
void subtable_free(struct subtable *st);

/* Writers (any registered thread). add replaces an entry with the same
 * sub; remove returns 0, or -1 if the entry was not there. */
void subtable_add(struct subtable *st, const char *key, void *stream, void *sub);
int subtable_remove(struct subtable *st, const char *key, void *sub);

/* Reader: must be inside rcu_read_lock(); *out stays valid until
 * rcu_read_unlock(). Returns the number of slots: read each with
 * subtable_get, which skips the holes removed entries leave. An entry
 * present for the whole read is seen once; one added or removed
 * meanwhile may be seen or not. */
size_t subtable_lookup(struct subtable *st, const char *key,
    const struct subtable_ent **out);

/* Slot i of a lookup: 1 with its stream and sub, or 0 for a hole. */
static inline int
subtable_get(const struct subtable_ent *e, size_t i, void **stream, void **sub)
{
	*sub = __atomic_load_n(&e[i].sub, __ATOMIC_ACQUIRE);
	if (*sub == NULL)
		return 0;
	*stream = __atomic_load_n(&e[i].stream, __ATOMIC_ACQUIRE);
	return 1;
}

size_t subtable_keys(struct subtable *st);
size_t subtable_subs(struct subtable *st);

#endif
