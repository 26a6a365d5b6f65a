#!/usr/bin/perl
# Turns a file of PCRE2 patterns (one a line) into ward rule files for the benchmark.
#   f2b2rules.pl PATTERNS OUTDIR VARIANTS
# VARIANTS = 1 writes one rule per pattern. VARIANTS = 10 also writes 9 variants of each:
# the same pattern with one literal word changed (so a variant shares the rest of its
# literals with the original, as related rules do), or, where the pattern has no such
# word, an exact copy under another id (the worst case: it is a candidate wherever the
# original is).
use strict;
use warnings;

my ($in, $out, $variants) = @ARGV;
die "usage: $0 PATTERNS OUTDIR VARIANTS\n" unless defined $variants;
open(my $fh, '<', $in) or die "$in: $!\n";
mkdir $out;
open(my $o, '>', "$out/rules.yml") or die "$out/rules.yml: $!\n";

# The last plain word of 4+ letters after a space, outside character classes.
sub last_word {
    my ($p) = @_;
    my ($depth, $best) = (0, undef);
    for (my $i = 0; $i < length $p; $i++) {
        my $c = substr($p, $i, 1);
        if ($c eq '\\') { $i++; next; }
        if ($depth) { $depth = 0 if $c eq ']'; next; }
        if ($c eq '[') { $depth = 1; next; }
        if ($c eq ' ' && substr($p, $i + 1) =~ /^([A-Za-z]{4,})(?![A-Za-z>])/) {
            $best = [$i + 1, length $1];
        }
    }
    return $best;
}

my ($n, $changed) = (0, 0);
while (my $p = <$fh>) {
    chomp $p;
    next if $p eq '';
    $n++;
    for my $v (0 .. $variants - 1) {
        my $q = $p;
        if ($v > 0) {
            my $w = last_word($p);
            if ($w) {
                $changed++ if $v == 1;
                substr($q, $w->[0] + $w->[1], 0) = ('q', 'z', 'x', 'j', 'k', 'v', 'w', 'y', 'b')[$v - 1] x 2;
            }
        }
        (my $yq = $q) =~ s/'/''/g;
        print $o "---\n" if $n > 1 || $v > 0;
        printf $o "title: benchmark pattern %d variant %d\nid: bench-%03d-%d\nlevel: low\n", $n, $v, $n, $v;
        print $o "detection:\n  sel:\n    event.original|re: '$yq'\n  condition: sel\n";
    }
}
close $o;
print STDERR "f2b2rules: $n patterns, ", $n * $variants, " rules in $out",
    ($variants > 1 ? " ($changed patterns varied by a literal word, the others copied)" : ""), "\n";
