rule ward_test_second
{
    meta:
        id = "yara-dup-401"
    condition:
        true
}
