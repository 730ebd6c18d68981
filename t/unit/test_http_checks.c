/* The http plugin's checks of a request's headers. The Host and Origin checks against DNS
 * rebinding (origin.c): on a loopback listener, only what can mean this machine and nothing
 * else is taken for it: the name localhost, or an IP literal in 127.0.0.0/8 or ::1, with or
 * without a port. The Mcp-Name header against the body's name (header_values.c), byte for byte. */
#include <criterion/criterion.h>

#include "../../plugins/http/server.h"

static const http_server_conf loopback = {.loopback = true};

static void host_ok(const char *host)
{
    const char *why = http_check_host(&loopback, host);
    cr_expect_null(why, "Host %s is loopback, refused: %s", host, why);
}

static void host_refused(const char *host)
{
    cr_expect_not_null(http_check_host(&loopback, host), "Host %s taken for loopback", host);
}

Test(origin, loopback_hosts)
{
    const char *ok[] = {"127.0.0.1", "127.0.0.1:8080", "127.1.2.3", "127.255.255.255:1",
                        "localhost", "localhost:8808", "LOCALHOST", "LocalHost:80", "[::1]",
                        "[::1]:80", "[0:0:0:0:0:0:0:1]:8808", "[::ffff:127.0.0.1]",
                        "[::ffff:7f00:1]:80"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        host_ok(ok[i]);
}

Test(origin, names_and_literals_that_are_not_loopback)
{
    const char *bad[] = {
        "127.attacker.example", "127.attacker.example:8808", "127.0.0.1.nip.io",
        "127.0.0.1.nip.io:80", "127.", "127", "127.0.0.1.", "127.0.0.01", "0x7f.1", "0x7f000001",
        "2130706433", "127.1", "017700000001", "128.0.0.1", "10.0.0.1", "0.0.0.0",
        "localhost.", "localhost.attacker.example", "a.localhost", "localhostx", "::1",
        "[::1", "[::1]x", "[::1]:x", "[::2]", "[::]", "[::ffff:10.0.0.1]", "[::ffff:127.0.0.1%eth0]",
        "[fe80::1%25lo]", "127.0.0.1:", "127.0.0.1:80x", "127.0.0.1 ", " 127.0.0.1",
        "127.0.0.1\tevil", "attacker.example", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        host_refused(bad[i]);
    cr_expect_not_null(http_check_host(&loopback, NULL));
}

Test(origin, a_long_host_is_not_cut_to_a_loopback_name)
{
    char host[600];
    memset(host, 'a', sizeof host);
    memcpy(host, "localhost", 9);
    host[sizeof host - 1] = '\0';
    host_refused(host);
    memcpy(host + 255, ":80", 4);   /* a name of exactly 255 characters */
    host_refused(host);
}

Test(origin, origins)
{
    const char *ok[] = {"http://localhost", "http://localhost:8808", "https://127.0.0.1",
                        "http://127.9.9.9:3000", "http://[::1]:8808", "HTTP://LOCALHOST"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        cr_expect_null(http_check_origin(&loopback, ok[i]), "Origin %s refused", ok[i]);
    const char *bad[] = {"http://127.attacker.example", "https://127.0.0.1.nip.io:443",
                         "http://localhost.attacker.example", "http://attacker.example",
                         "null", "file://", "127.0.0.1", "http://0x7f.1", "http://[::1]evil",
                         "ftp://localhost"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_not_null(http_check_origin(&loopback, bad[i]), "Origin %s allowed", bad[i]);
    cr_expect_null(http_check_origin(&loopback, NULL), "no Origin: not a browser");
}

Test(origin, a_listener_on_another_address_takes_any_well_formed_host)
{
    static const http_server_conf any = {.loopback = false};
    cr_expect_null(http_check_host(&any, "127.attacker.example:80"));
    cr_expect_null(http_check_host(&any, "example.com"));
}

static bool name_matches(const char *header, const char *body, size_t body_len)
{
    json_t *v = json_stringn(body, body_len);
    bool ok = http_mcp_name_matches(header, v);
    json_decref(v);
    return ok;
}

Test(mcp_name, equal_names_match)
{
    cr_expect(name_matches("up__t0", "up__t0", 6));
    cr_expect(name_matches("=?base64?dXBfX3Qw?=", "up__t0", 6), "base64 form");
    cr_expect(name_matches("=?base64?w6lk?=", "\xc3\xa9" "d", 3), "base64 of UTF-8");
}

Test(mcp_name, a_nul_in_either_does_not_cut_the_comparison)
{
    /* the body's name "up__t0\u0000-anything" is not "up__t0" */
    cr_expect_not(name_matches("up__t0", "up__t0\0-anything", 16));
    /* nor a header that decodes to "up__t0\0x" a body "up__t0" */
    cr_expect_not(name_matches("=?base64?dXBfX3QwAHg=?=", "up__t0", 6));
    cr_expect(name_matches("=?base64?dXBfX3QwAHg=?=", "up__t0\0x", 8), "the same bytes, NUL and all");
}

Test(mcp_name, absent_or_malformed_never_matches)
{
    cr_expect_not(name_matches(NULL, "up__t0", 6));
    cr_expect_not(http_mcp_name_matches("up__t0", NULL));
    json_t *n = json_integer(1);
    cr_expect_not(http_mcp_name_matches("1", n));
    json_decref(n);
    cr_expect_not(name_matches("=?base64?!!!!?=", "", 0));
    cr_expect_not(name_matches("up__t1", "up__t0", 6));
    cr_expect_not(name_matches("up__t", "up__t0", 6));
}
