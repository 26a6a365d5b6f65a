rule ward_test_ok_before_error
{
    meta:
        id = "yara-never-201"
    condition:
        true
}

rule ward_test_broken
{
    strings:
        $a = "x"
    condition:
        $a and and
}
