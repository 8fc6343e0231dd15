/* decimal.h - integers written in decimal, of any length: ids are, and
 * they outgrow 2^53 (a double) and may outgrow 2^64 */
#ifndef SLUICE_DECIMAL_H
#define SLUICE_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Digits with an optional leading '-'. */
static inline bool
decimal_is_integer(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Order of two decimal_is_integer strings by value: sign, then length
 * without leading zeros, then digits. -1, 0 or 1. */
static inline int
decimal_cmp(const char *a, const char *b)
{
	bool na = *a == '-', nb = *b == '-';
	size_t la, lb;
	int c;

	a += na;
	b += nb;
	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	la = strlen(a);
	lb = strlen(b);
	if (la == 0)
		na = false;	/* -0 */
	if (lb == 0)
		nb = false;
	if (na != nb)
		return na ? -1 : 1;
	if (la != lb)
		c = la < lb ? -1 : 1;
	else
		c = memcmp(a, b, la);
	c = (c > 0) - (c < 0);
	return na ? -c : c;
}

#endif
