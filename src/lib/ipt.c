// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/netfilter_ipv4.h>

#include "ipt.h"
#include "pkt.h"

/* The tables a chain can be placed in, in the order they are loaded. */
static const char *const tables[] = {"raw", "mangle", "filter"};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

static const char *const builtins[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};

/* iptables --wait: legacy iptables serialises on a lock that another
 * program may hold for a moment; iptables-nft ignores it */
#define WAIT_OPT "--wait=10"

int wlb_ipt_place(const struct wlb_nft_chain *c, struct wlb_ipt_place *p)
{
	unsigned h = c->hook;

	if (h > NF_INET_POST_ROUTING)
		return -1;
	p->builtin = builtins[h];
	p->nearest = false;
	if (c->prio == NF_IP_PRI_RAW && (h == NF_INET_PRE_ROUTING || h == NF_INET_LOCAL_OUT)) {
		p->table = "raw";
	} else if (c->prio == NF_IP_PRI_MANGLE) {
		p->table = "mangle";
	} else if (c->prio == NF_IP_PRI_FILTER && h != NF_INET_PRE_ROUTING &&
		   h != NF_INET_POST_ROUTING) {
		p->table = "filter";
	} else if (h == NF_INET_POST_ROUTING && c->prio > NF_IP_PRI_NAT_SRC) {
		/* no iptables table runs after source NAT: mangle is the
		 * last one before it */
		p->table = "mangle";
		p->nearest = true;
	} else {
		return -1;
	}
	return 0;
}

void wlb_ipt_chain_name(const struct wlb_nft_table *t, unsigned i, char name[WLB_IPT_CHAIN_LEN])
{
	const char *d = strncmp(t->name, "wlb_", 4) ? t->name : t->name + 4;

	snprintf(name, WLB_IPT_CHAIN_LEN, "WLB-%s-%s", d, t->chains[i].name);
	for (char *s = name; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* ------------------------------------------------------------ rendering */

static const struct {
	unsigned bit;
	const char *name;
} tcp_flags[] = {
	/* iptables-save's order */
	{0x01, "FIN"}, {0x02, "SYN"}, {0x04, "RST"}, {0x08, "PSH"}, {0x10, "ACK"}, {0x20, "URG"},
};

static void print_flags(FILE *f, unsigned v)
{
	const char *sep = "";

	if (!v)
		fputs("NONE", f);
	for (unsigned i = 0; i < sizeof(tcp_flags) / sizeof(tcp_flags[0]); i++) {
		if (v & tcp_flags[i].bit) {
			fprintf(f, "%s%s", sep, tcp_flags[i].name);
			sep = ",";
		}
	}
}

/* One rule's matches, gathered: iptables has one slot for each. */
struct parts {
	const struct wlb_nft_match *s, *d, *iif, *proto, *sport, *dport, *flags, *mark;
};

static int gather(const struct wlb_nft_rule *r, struct parts *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < WLB_NFT_MAX_MATCH; i++) {
		const struct wlb_nft_match *m = &r->m[i], **slot;

		switch (m->kind) {
		case WLB_M_NONE:
			continue;
		case WLB_M_PROTO:
			slot = &p->proto;
			break;
		case WLB_M_TCP_SPORT:
			slot = &p->sport;
			break;
		case WLB_M_TCP_DPORT:
			slot = &p->dport;
			break;
		case WLB_M_TCP_FLAGS:
			slot = &p->flags;
			if ((m->a | m->b) & ~0x3fu || (m->b & ~m->a)) {
				snprintf(err, errlen, "tcp flags & 0x%02x == 0x%02x", m->a, m->b);
				return -1;
			}
			break;
		case WLB_M_MARK:
			slot = &p->mark;
			break;
		case WLB_M_IIFNAME:
			slot = &p->iif;
			break;
		case WLB_M_SADDR:
			slot = &p->s;
			break;
		case WLB_M_DADDR:
			slot = &p->d;
			break;
		default:
			snprintf(err, errlen, "match kind %d", (int)m->kind);
			return -1;
		}
		if (*slot) {
			snprintf(err, errlen, "two matches of kind %d", (int)m->kind);
			return -1;
		}
		*slot = m;
	}
	if (p->proto && (p->sport || p->dport || p->flags) && p->proto->a != WLB_IPPROTO_TCP) {
		snprintf(err, errlen, "ip protocol %u with a tcp match", p->proto->a);
		return -1;
	}
	return 0;
}

/* "-A CHAIN matches -j target", in the order iptables-save prints them;
 * 1 written, 0 left out (a fast-path rule), -1 (err) no iptables form. */
static int render_rule(const struct wlb_nft_table *t, const struct wlb_nft_rule *r, bool raw,
		       FILE *f, char *err, size_t errlen)
{
	char name[WLB_IPT_CHAIN_LEN], a[INET_ADDRSTRLEN], why[96];
	struct parts p;

	if (r->action == WLB_A_REWRITE)
		return 0;
	wlb_ipt_chain_name(t, r->chain, name);
	if (gather(r, &p, why, sizeof(why)) < 0)
		goto bad;
	if (r->action == WLB_A_NOTRACK && !raw) {
		snprintf(why, sizeof(why), "notrack outside the raw table");
		goto bad;
	}
	fprintf(f, "-A %s", name);
	if (p.s) {
		inet_ntop(AF_INET, &p.s->a, a, sizeof(a));
		fprintf(f, " -s %s/32", a);
	}
	if (p.d) {
		inet_ntop(AF_INET, &p.d->a, a, sizeof(a));
		fprintf(f, " -d %s/32", a);
	}
	if (p.iif)
		fprintf(f, " -i %s", p.iif->s);
	if (p.sport || p.dport || p.flags)
		fputs(" -p tcp", f);
	else if (p.proto)
		fprintf(f, " -p %u", p.proto->a);
	if (p.mark)
		fprintf(f, " -m mark --mark 0x%x", p.mark->a);
	if (p.sport || p.dport || p.flags)
		fputs(" -m tcp", f);
	if (p.sport)
		fprintf(f, " --sport %u", p.sport->a);
	if (p.dport)
		fprintf(f, " --dport %u", p.dport->a);
	if (p.flags) {
		fputs(" --tcp-flags ", f);
		print_flags(f, p.flags->a);
		fputc(' ', f);
		print_flags(f, p.flags->b);
	}
	if (r->action == WLB_A_QUEUE)
		fprintf(f, " -j NFQUEUE --queue-num %u --queue-bypass\n", r->queue);
	else if (r->action == WLB_A_NOTRACK)
		fputs(" -j CT --notrack\n", f);
	else
		fputs(" -j ACCEPT\n", f);
	return 1;
bad:
	snprintf(err, errlen, "%s: chain %s: no iptables form for %s", t->name,
		 t->chains[r->chain].name, why);
	return -1;
}

/* Which of t's chains go to table (in[i]), and how many. */
static unsigned in_table(const struct wlb_nft_table *t, const char *table, bool *in,
			 struct wlb_ipt_place *pl)
{
	unsigned n = 0;

	for (unsigned i = 0; i < t->n_chains; i++) {
		in[i] = !wlb_ipt_place(&t->chains[i], &pl[i]) && !strcmp(pl[i].table, table);
		n += in[i];
	}
	return n;
}

/* Every chain must have a place before anything is loaded. */
static int check_places(const struct wlb_nft_table *t, char *err, size_t errlen)
{
	struct wlb_ipt_place p;

	for (unsigned i = 0; i < t->n_chains; i++) {
		if (wlb_ipt_place(&t->chains[i], &p) < 0) {
			snprintf(err, errlen,
				 "%s: chain %s: no iptables table at hook %u priority %d", t->name,
				 t->chains[i].name, t->chains[i].hook, t->chains[i].prio);
			return -1;
		}
	}
	return 0;
}

int wlb_ipt_render_install(const struct wlb_nft_table *t, const char *table, const bool *jump,
			   FILE *f, char *err, size_t errlen)
{
	struct wlb_ipt_place pl[WLB_NFT_MAX_CHAINS];
	bool in[WLB_NFT_MAX_CHAINS];
	char name[WLB_IPT_CHAIN_LEN];
	unsigned n;
	bool raw = !strcmp(table, "raw");

	if (check_places(t, err, errlen) < 0)
		return -1;
	n = in_table(t, table, in, pl);
	if (!n)
		return 0;
	fprintf(f, "*%s\n", table);
	/* with --noflush a chain line creates the chain, or flushes it */
	for (unsigned i = 0; i < t->n_chains; i++) {
		if (in[i]) {
			wlb_ipt_chain_name(t, i, name);
			fprintf(f, ":%s - [0:0]\n", name);
		}
	}
	for (unsigned i = 0; i < t->n_rules; i++)
		if (in[t->rules[i].chain] && render_rule(t, &t->rules[i], raw, f, err, errlen) < 0)
			return -1;
	/* first in the built-in chain, as its own base chain would be with
	 * nftables: no rule of another program decides before ours */
	for (unsigned i = 0; i < t->n_chains; i++) {
		if (in[i] && (!jump || jump[i])) {
			wlb_ipt_chain_name(t, i, name);
			fprintf(f, "-I %s 1 -j %s\n", pl[i].builtin, name);
		}
	}
	fputs("COMMIT\n", f);
	return (int)n;
}

int wlb_ipt_render_remove(const struct wlb_nft_table *t, const char *table, const bool *exists,
			  const bool *jumped, FILE *f)
{
	struct wlb_ipt_place pl[WLB_NFT_MAX_CHAINS];
	bool in[WLB_NFT_MAX_CHAINS];
	char name[WLB_IPT_CHAIN_LEN];
	int lines = 0;

	in_table(t, table, in, pl);
	for (unsigned i = 0; i < t->n_chains; i++)
		if (in[i])
			lines += (!jumped || jumped[i]) + 2 * (!exists || exists[i]);
	if (!lines)
		return 0;
	fprintf(f, "*%s\n", table);
	for (unsigned i = 0; i < t->n_chains; i++) {
		if (in[i] && (!jumped || jumped[i])) {
			wlb_ipt_chain_name(t, i, name);
			fprintf(f, "-D %s -j %s\n", pl[i].builtin, name);
		}
	}
	for (unsigned i = 0; i < t->n_chains; i++) {
		if (in[i] && (!exists || exists[i])) {
			wlb_ipt_chain_name(t, i, name);
			fprintf(f, "-F %s\n-X %s\n", name, name);
		}
	}
	fputs("COMMIT\n", f);
	return lines;
}

int wlb_ipt_print_install(const struct wlb_nft_table *t, FILE *f, char *err, size_t errlen)
{
	struct wlb_ipt_place p;
	unsigned skipped = 0;

	if (check_places(t, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < t->n_rules; i++)
		skipped += t->rules[i].action == WLB_A_REWRITE;
	fprintf(f,
		"# %s: iptables-restore --noflush input, one transaction per table;\n"
		"# a jump (-I) already in place is not added again\n",
		t->name);
	if (skipped)
		fprintf(f, "# left out: %u fast-path rule%s (no iptables form)\n", skipped,
			skipped > 1 ? "s" : "");
	for (unsigned i = 0; i < t->n_chains; i++)
		if (!wlb_ipt_place(&t->chains[i], &p) && p.nearest)
			fprintf(f, "# chain %s: no table at priority %d: %s %s instead\n",
				t->chains[i].name, t->chains[i].prio, p.table, p.builtin);
	for (unsigned i = 0; i < N_TABLES; i++)
		if (wlb_ipt_render_install(t, tables[i], NULL, f, err, errlen) < 0)
			return -1;
	return 0;
}

void wlb_ipt_print_remove(const struct wlb_nft_table *t, FILE *f)
{
	fprintf(f,
		"# %s: iptables-restore --noflush input, one transaction per table;\n"
		"# the lines of a jump or a chain that is absent are left out; then, with\n"
		"# iptables-nft, a built-in chain left empty goes, and its table if empty\n",
		t->name);
	for (unsigned i = 0; i < N_TABLES; i++)
		wlb_ipt_render_remove(t, tables[i], NULL, NULL, f);
}

/* ------------------------------------------------------------ execution */

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* What a command printed, on one line for a message: its lines joined
 * with "; ", or a space after one that ends in a colon. */
static void one_line(char *s, size_t size)
{
	char *copy = strdup(s), *save = NULL;
	size_t n = 0;

	if (!copy)
		return;
	s[0] = '\0';
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(l);

		while (len && isspace((unsigned char)l[len - 1]))
			l[--len] = '\0';
		if (!len)
			continue;
		if (n && n < size)
			n += (size_t)snprintf(s + n, size - n, "%s", s[n - 1] == ':' ? " " : "; ");
		if (n < size)
			n += (size_t)snprintf(s + n, size - n, "%s", l);
	}
	free(copy);
}

/*
 * Run argv (found in PATH, no shell) with input, if any, on its standard
 * input, from a memory file rather than a pipe so that a large input
 * cannot block against the output we read.  What it prints on stdout and
 * stderr lands in out.  Returns its exit status, or -1 (out says why).
 */
static int run(const char *const argv[], const char *input, size_t len, char *out, size_t outlen)
{
	int in = -1, p[2] = {-1, -1}, status, ret = -1;
	size_t got = 0;
	pid_t pid;

	out[0] = '\0';
	if (input) {
		in = memfd_create("wlb-rules", MFD_CLOEXEC);
		if (in < 0 || write_all(in, input, len) < 0 || lseek(in, 0, SEEK_SET) < 0)
			goto sys;
	} else {
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0)
			goto sys;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		goto sys;
	pid = fork();
	if (pid < 0)
		goto sys;
	if (pid == 0) {
		if (dup2(in, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	for (;;) {
		char buf[512];
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* past the room, keep reading so the child never blocks */
		for (ssize_t i = 0; i < n && got + 1 < outlen; i++)
			out[got++] = buf[i];
		out[got] = '\0';
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			goto sys;
	}
	one_line(out, outlen);
	if (WIFEXITED(status))
		ret = WEXITSTATUS(status);
	else
		snprintf(out, outlen, "killed by signal %d", WTERMSIG(status));
	goto out;
sys:
	snprintf(out, outlen, "cannot run %s: %s", argv[0], strerror(errno));
out:
	if (in >= 0)
		close(in);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return ret;
}

/* iptables -t TABLE ARGS: 0 or 1 (its answer), -1 (err) anything else. */
static int ipt_query(const char *table, const char *op, const char *chain, const char *jump,
		     char *err, size_t errlen)
{
	const char *argv[] = {"iptables", WAIT_OPT,	      "-t", table, op,
			      chain,	  jump ? "-j" : NULL, jump, NULL};
	char out[512];
	int st = run(argv, NULL, 0, out, sizeof(out));

	if (st == 0 || st == 1)
		return st;
	if (st < 0)
		snprintf(err, errlen, "iptables -t %s %s %s%s%s: %s", table, op, chain,
			 jump ? " -j " : "", jump ? jump : "", out);
	else
		snprintf(err, errlen, "iptables -t %s %s %s%s%s: exit status %d: %s", table, op,
			 chain, jump ? " -j " : "", jump ? jump : "", st, out);
	return -1;
}

static int restore(const char *table, const char *text, size_t len, char *err, size_t errlen)
{
	const char *argv[] = {"iptables-restore", WAIT_OPT, "--noflush", NULL};
	char out[1024];
	int st = run(argv, text, len, out, sizeof(out));

	if (st == 0)
		return 0;
	if (st < 0)
		snprintf(err, errlen, "iptables-restore (table %s): %s", table, out);
	else
		snprintf(err, errlen, "iptables-restore (table %s): exit status %d: %s", table, st,
			 out);
	return -1;
}

/* What is loaded of t in table: exists[i], jumped[i] per chain there. */
static int probe(const struct wlb_nft_table *t, const char *table, const bool *in,
		 const struct wlb_ipt_place *pl, bool *exists, bool *jumped, char *err,
		 size_t errlen)
{
	char name[WLB_IPT_CHAIN_LEN];

	for (unsigned i = 0; i < t->n_chains; i++) {
		int r;

		exists[i] = jumped[i] = false;
		if (!in[i])
			continue;
		wlb_ipt_chain_name(t, i, name);
		/* -C cannot tell a missing target chain from a bad command */
		r = ipt_query(table, "-S", name, NULL, err, errlen);
		if (r < 0)
			return -1;
		exists[i] = r == 0;
		if (!exists[i])
			continue;
		r = ipt_query(table, "-C", pl[i].builtin, name, err, errlen);
		if (r < 0)
			return -1;
		jumped[i] = r == 0;
	}
	return 0;
}

int wlb_ipt_install(const struct wlb_nft_table *t, char *err, size_t errlen)
{
	struct wlb_ipt_place pl[WLB_NFT_MAX_CHAINS];
	bool in[WLB_NFT_MAX_CHAINS], exists[WLB_NFT_MAX_CHAINS], jump[WLB_NFT_MAX_CHAINS];
	int ret = 0;

	if (check_places(t, err, errlen) < 0)
		return -1;
	for (unsigned k = 0; k < N_TABLES && !ret; k++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f;

		if (!in_table(t, tables[k], in, pl))
			continue;
		if (probe(t, tables[k], in, pl, exists, jump, err, errlen) < 0)
			return -1;
		for (unsigned i = 0; i < t->n_chains; i++)
			jump[i] = !jump[i];
		f = open_memstream(&text, &len);
		if (!f) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ret = wlb_ipt_render_install(t, tables[k], jump, f, err, errlen) < 0 ? -1 : 0;
		fclose(f);
		if (!ret)
			ret = restore(tables[k], text, len, err, errlen);
		free(text);
	}
	return ret;
}

/* Whether the iptables in PATH is iptables-nft. */
static int is_nft(char *err, size_t errlen)
{
	const char *argv[] = {"iptables", "-V", NULL};
	char out[256];
	int st = run(argv, NULL, 0, out, sizeof(out));

	if (st != 0) {
		snprintf(err, errlen, "iptables -V: %s", out);
		return -1;
	}
	return strstr(out, "nf_tables") != NULL;
}

/*
 * iptables-nft creates a built-in chain (and its table) in the kernel only
 * when a rule needs it, and never deletes it: the one our jump needed goes
 * with the jump, when nothing else is in it (wlb_nft_prune() checks), so
 * that remove leaves the ruleset as install found it.  An absent built-in
 * chain filters exactly as an empty one with policy ACCEPT.
 */
static int prune(const struct wlb_nft_table *t, const char *table, const bool *jumped,
		 const struct wlb_ipt_place *pl, int *nft, char *err, size_t errlen)
{
	for (unsigned i = 0; i < t->n_chains; i++) {
		if (!jumped[i])
			continue;
		if (*nft < 0)
			*nft = is_nft(err, errlen);
		if (*nft < 0)
			return -1;
		if (*nft && wlb_nft_prune(table, pl[i].builtin, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int wlb_ipt_remove(const struct wlb_nft_table *t, char *err, size_t errlen)
{
	struct wlb_ipt_place pl[WLB_NFT_MAX_CHAINS];
	bool in[WLB_NFT_MAX_CHAINS], exists[WLB_NFT_MAX_CHAINS], jumped[WLB_NFT_MAX_CHAINS];
	int nft = -1; /* asked once, and only when there is something to prune */

	for (unsigned k = 0; k < N_TABLES; k++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f;
		int ret;

		if (!in_table(t, tables[k], in, pl))
			continue;
		if (probe(t, tables[k], in, pl, exists, jumped, err, errlen) < 0)
			return -1;
		f = open_memstream(&text, &len);
		if (!f) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ret = wlb_ipt_render_remove(t, tables[k], exists, jumped, f);
		fclose(f);
		if (ret > 0)
			ret = restore(tables[k], text, len, err, errlen);
		free(text);
		if (ret < 0 || prune(t, tables[k], jumped, pl, &nft, err, errlen) < 0)
			return -1;
	}
	return 0;
}
