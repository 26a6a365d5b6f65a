/* Fixture for tests/unit/test_yara.c: a condition that runs past any scan timeout
 * (a billion iterations). */

rule ward_test_slow
{
    meta:
        id = "yara-slow-501"
    condition:
        for all i in (0..1000000000) : (i >= 0)
}
