// SPDX-License-Identifier: MIT
/* Addresses, status <-> errno, logging. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/log.h"
#include "common/util.h"

int main(void)
{
	struct sockaddr_in sa;
	char buf[64];

	CHECK_EQ(zc_parse_addr("127.0.0.1:9420", &sa), 0);
	CHECK_EQ(ntohs(sa.sin_port), 9420);
	CHECK(!strcmp(zc_fmt_addr(&sa, buf, sizeof(buf)), "127.0.0.1:9420"));
	CHECK_EQ(zc_parse_addr("localhost:1", &sa), 0);
	CHECK_EQ(zc_parse_addr("127.0.0.1", &sa), -EINVAL);
	CHECK_EQ(zc_parse_addr("127.0.0.1:70000", &sa), -EINVAL);
	CHECK_EQ(zc_parse_addr("127.0.0.1:12x", &sa), -EINVAL);
	CHECK_EQ(zc_parse_addr(":80", &sa), -EINVAL);

	for (int st = 0; st < ZC_ST_MAX; st++) {
		CHECK(zc_status_str(st)[0]);
		if (st != ZC_ST_CRC && st != ZC_ST_NOCS)	/* these share an errno */
			CHECK_EQ(zc_errno_status(zc_status_errno(st)), st);
	}
	CHECK_EQ(zc_status_errno(12345), EIO);
	CHECK_EQ(zc_errno_status(-ENOENT), ZC_ST_NOENT);
	CHECK_EQ(zc_errno_status(EXDEV), ZC_ST_IO);

	/* Logging: one whole line per event, levels filter. */
	char path[] = "/tmp/zcfs-log-XXXXXX";
	int fd = mkstemp(path);
	char text[4096] = { 0 };

	CHECK_GE(fd, 0);
	CHECK_EQ(zc_log_init("test", ZC_LOG_INFO, path), 0);
	zc_info("hello %d", 42);
	zc_debug("not shown");
	zc_err("peer %s op %s: %s", "1.2.3.4:5", "READ", "checksum mismatch");
	CHECK_GT(read(fd, text, sizeof(text) - 1), 0);
	CHECK(strstr(text, "test["));
	CHECK(strstr(text, "INFO: hello 42\n"));
	CHECK(!strstr(text, "not shown"));
	CHECK(strstr(text, "ERR: peer 1.2.3.4:5 op READ: checksum mismatch\n"));
	CHECK_EQ(zc_log_parse_level("debug"), ZC_LOG_DEBUG);
	CHECK_EQ(zc_log_parse_level("loud"), -EINVAL);
	close(fd);
	unlink(path);

	/* JSON strings: quotes, backslashes and control characters escaped;
	 * cut to fit, never past the buffer. */
	{
		char j[64], small[8];

		zc_json_str("vm:/mnt/a \"b\\c\n", j, sizeof(j));
		if (strcmp(j, "vm:/mnt/a \\\"b\\\\c\\u000a"))
			fprintf(stderr, "json: got [%s]\n", j);
		CHECK(!strcmp(j, "vm:/mnt/a \\\"b\\\\c\\u000a"));
		zc_json_str("\"\"\"\"\"\"", small, sizeof(small));
		CHECK(strlen(small) < sizeof(small));
	}
	return check_done();
}
