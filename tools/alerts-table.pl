#!/usr/bin/perl
# Prints ward alerts (JSON lines) as a short table: level, rule, where, who.
#   alerts-table.pl ALERTS.json
use strict;
use warnings;
use JSON::PP;

my $n = 0;
while (my $line = <>) {
    my $a = eval { decode_json($line) } or do { warn "not JSON: $line"; next };
    my $where = $a->{log}{file}{path} // $a->{log}{source}{address} // $a->{ward}{source}{name} // '-';
    $where .= ":" . $a->{log}{offset} if defined $a->{log}{offset};
    my @who;
    push @who, "src=" . ($a->{source}{ip} // $a->{source}{address} // $a->{source}{domain})
        if $a->{source};
    push @who, "user=$a->{user}{name}" if $a->{user} && defined $a->{user}{name};
    push @who, "count=$a->{ward}{threshold}{count}" if $a->{ward}{threshold};
    printf "%-8s %-34s %-40s %s\n", $a->{ward}{level}, $a->{rule}{id}, $where, join(' ', @who);
    $n++;
}
print "$n alerts\n";
