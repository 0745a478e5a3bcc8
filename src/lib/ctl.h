/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol of the daemons (wlbctl(8)): the request line, and
 * the answer a command builds, as aligned text or as JSON from the same
 * calls.
 *
 * A request is one line of at most WLB_CTL_REQ_MAX bytes, newline included:
 * printable ASCII words separated by blanks, the first optionally "json",
 * then the command and its arguments.  The answer is a status line, then
 * for "ok" the payload:
 *
 *   ok\n PAYLOAD              the command was done
 *   error MESSAGE\n           it failed (no such flow, ...)
 *   usage MESSAGE\n           unknown command or bad arguments
 *
 * A command writes its answer with the wlb_ctl_kv_* calls (one name and
 * value: "name   value" lines, or members of the top-level JSON object) and
 * the table calls (columns of fixed width, or an array of objects).
 */
#ifndef WLB_CTL_H
#define WLB_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define WLB_CTL_REQ_MAX 256
#define WLB_CTL_MAX_ARGS 8
#define WLB_CTL_MSG_MAX 256
/* The largest answer.  A listing stops, saying so, when less than the
 * reserve is left: enough to close it. */
#define WLB_CTL_ANSWER_MAX ((4u << 20) + WLB_CTL_ANSWER_RESERVE)
#define WLB_CTL_ANSWER_RESERVE 4096

struct wlb_ctl_req {
	bool json;
	unsigned argc;
	/* argv[0] is the command; NULL after the last (room for "json") */
	const char *argv[WLB_CTL_MAX_ARGS + 2];
	char text[WLB_CTL_REQ_MAX];
};

/* Parse one line (its newline, or CR LF, optional).  Returns 0, or -1 with
 * a message in err. */
int wlb_ctl_parse(struct wlb_ctl_req *req, const char *line, size_t len, char *err, size_t errlen);

/* "ADDRESS:PORT" -> address and port in network byte order. */
int wlb_ctl_parse_endpoint(const char *s, uint32_t *addr, uint16_t *port);
/* Dotted quad -> network byte order. */
int wlb_ctl_parse_addr(const char *s, uint32_t *addr);

enum wlb_ctl_status {
	WLB_CTL_OK = 0,
	WLB_CTL_ERROR, /* the command failed */
	WLB_CTL_USAGE, /* not a command, or bad arguments */
};

/* A command handler's return: done (successfully or not), or not one of
 * its commands. */
#define WLB_CTL_DONE 0
#define WLB_CTL_UNKNOWN 1

struct wlb_ctl_col {
	const char *name; /* JSON member; upper-cased, the text header */
	unsigned width;	  /* text: the cell is padded to it, but for the last */
};

struct wlb_ctl_out {
	bool json;
	struct wlb_buf buf;
	struct wlb_json j;
	enum wlb_ctl_status status;
	char msg[WLB_CTL_MSG_MAX];
	/* the table being written, for the text form */
	const struct wlb_ctl_col *cols;
	unsigned ncols, col;
	size_t cell_start;
	bool list_started;
};

void wlb_ctl_out_init(struct wlb_ctl_out *o, bool json, size_t max);
/* Close the JSON object; a failure replaces the payload by its message.
 * Returns the status. */
enum wlb_ctl_status wlb_ctl_out_finish(struct wlb_ctl_out *o);
void wlb_ctl_out_free(struct wlb_ctl_out *o);
/* Record a failure; returns WLB_CTL_DONE for "return wlb_ctl_fail(...)". */
int wlb_ctl_fail(struct wlb_ctl_out *o, enum wlb_ctl_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Whether a listing may add another entry (below the soft limit). */
bool wlb_ctl_room(const struct wlb_ctl_out *o);

/* One named value: text "name<pad>value", JSON "name": value. */
void wlb_ctl_kv_str(struct wlb_ctl_out *o, const char *name, const char *v);
void wlb_ctl_kv_u64(struct wlb_ctl_out *o, const char *name, uint64_t v);
void wlb_ctl_kv_double(struct wlb_ctl_out *o, const char *name, double v);
void wlb_ctl_kv_bool(struct wlb_ctl_out *o, const char *name, bool v);
/* Counters as wlb_counters_print() names them. */
void wlb_ctl_kv_counters(struct wlb_ctl_out *o, const char *const *names, const uint64_t *v,
			 unsigned n);
/* The state file's "name value" lines ('#' lines and others skipped):
 * whole numbers become JSON numbers, other values strings. */
void wlb_ctl_kv_lines(struct wlb_ctl_out *o, const char *text);

/* A table: text, a header line and a line per row; JSON, "name": [ {...} ]. */
void wlb_ctl_table_begin(struct wlb_ctl_out *o, const char *name, const struct wlb_ctl_col *cols,
			 unsigned ncols);
void wlb_ctl_table_end(struct wlb_ctl_out *o);
/* After a listing that wlb_ctl_room() cut short: JSON "omitted": n (also
 * when 0); text, a last line when n is not 0. */
void wlb_ctl_table_omitted(struct wlb_ctl_out *o, uint64_t n);
void wlb_ctl_row_begin(struct wlb_ctl_out *o);
void wlb_ctl_row_end(struct wlb_ctl_out *o);
/* Cells, in column order.  NULL: JSON null, text "-"; bools: yes/no. */
void wlb_ctl_cell_str(struct wlb_ctl_out *o, const char *v);
void wlb_ctl_cell_u64(struct wlb_ctl_out *o, uint64_t v);
void wlb_ctl_cell_bool(struct wlb_ctl_out *o, bool v);
/* A list in one cell: text, comma-separated; JSON, an array. */
void wlb_ctl_cell_list_begin(struct wlb_ctl_out *o);
void wlb_ctl_list_str(struct wlb_ctl_out *o, const char *v);
void wlb_ctl_list_u64(struct wlb_ctl_out *o, uint64_t v);
void wlb_ctl_cell_list_end(struct wlb_ctl_out *o);

/* "a.b.c.d:port" from network-order address and port. */
#define WLB_CTL_ENDPOINT_LEN 22
void wlb_ctl_endpoint(char *buf, uint32_t addr, uint16_t port);

/* Commands more than one daemon has. */
struct wlb_conf;
struct wlb_flow_table;
struct wlb_flow;
/* "replicas" of the client gateway and the redirector: the services of the
 * configuration and their replicas. */
void wlb_ctl_services(struct wlb_ctl_out *o, const struct wlb_conf *c);
/* "flush CLIENT:PORT SERVER:PORT": the policy's forget() removes that flow
 * from the table t, and whatever the kernel holds for it. */
int wlb_ctl_flush(struct wlb_ctl_out *o, struct wlb_flow_table *t, const struct wlb_ctl_req *req,
		  uint64_t now_ms, void (*forget)(void *self, struct wlb_flow *f), void *self);
/* "flows" and "counters": the table's size; all adds evictions and expiries. */
void wlb_ctl_flow_counts(struct wlb_ctl_out *o, struct wlb_flow_table *t, bool all);
/* "flows [ADDRESS]": a row per flow, client and server first; the policy
 * writes the other cells.  With an address, only the flows whose client or
 * server it is, or that names() (may be NULL) says it names otherwise. */
struct wlb_ctl_flow_view {
	const struct wlb_ctl_col *cols; /* "client" and "server" first */
	unsigned n_cols;
	void (*cells)(struct wlb_ctl_out *o, const struct wlb_flow *f);
	bool (*names)(const struct wlb_flow *f, uint32_t addr);
};
int wlb_ctl_flows(struct wlb_ctl_out *o, struct wlb_flow_table *t, const struct wlb_ctl_req *req,
		  uint64_t now_ms, const struct wlb_ctl_flow_view *v);

#endif
