#!/usr/bin/perl
# Prints the shipped rules as Markdown, by area (the file they are in): id, level, title.
#   rules-list.pl RULES_DIR
# docs/rules.md holds this list; tests/integration/rules-list.sh checks it is current.
use strict;
use warnings;
use File::Find;

my $dir = shift // 'rules';
my @files;
find({wanted => sub { push @files, $File::Find::name if /\.(ya?ml|yara?)$/ }, no_chdir => 1}, $dir);
my $total = 0;
my @out;
for my $f (sort @files) {
    open(my $in, '<', $f) or die "$f: $!\n";
    my @rules;
    if ($f =~ /\.yara?$/) {
        my %r;
        while (<$in>) {
            # "private" and "global" are modifiers before "rule", in any order; the name, the
            # tags and the rest of the line may say "private" without making it private
            if (/^\s*((?:(?:private|global)\s+)*)rule\s+(\w+)/) {
                %r = (name => $2, private => $1 =~ /\bprivate\b/ ? 1 : 0);
            }
            $r{id} = $1 if /^\s*id\s*=\s*"([^"]*)"/;
            $r{title} = $1 if /^\s*title\s*=\s*"([^"]*)"/;
            $r{level} = $1 if /^\s*level\s*=\s*"([^"]*)"/;
            if (/^\s*condition\s*:/ && $r{id} && !$r{private}) { push @rules, {%r}; }
        }
    } else {
        my %r;
        my $flush = sub { push @rules, {%r} if $r{id}; %r = () };
        while (<$in>) {
            if (/^---/) { $flush->(); next }
            $r{id} = $1 if /^id:\s*(\S+)/;
            $r{title} = $1 if /^title:\s*(.+?)\s*$/;
            $r{level} = $1 if /^level:\s*(\S+)/;
        }
        $flush->();
    }
    close $in;
    next unless @rules;
    (my $area = $f) =~ s{^\Q$dir\E/?}{};
    push @out, "### $area (" . scalar(@rules) . ")\n\n| id | level | title |\n| --- | --- | --- |\n";
    for my $r (@rules) {
        (my $t = $r->{title} // $r->{name} // '') =~ s/^'(.*)'$/$1/;
        $t =~ s/\|/\\|/g;
        push @out, sprintf("| `%s` | %s | %s |\n", $r->{id}, $r->{level} // 'medium', $t);
    }
    push @out, "\n";
    $total += @rules;
}
print "$total rules.\n\n", @out;
