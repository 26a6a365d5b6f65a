rule ward_test_second
{
    meta:
        id = "yara-second-101"
        title = "From a second file"
        level = "critical"
    strings:
        $a = "second-file"
    condition:
        $a
}
