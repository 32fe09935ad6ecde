#!/usr/bin/perl
# SPDX-License-Identifier: GPL-2.0
#
# usage: rig/check-messages.pl [TREE]    (a part of rig/lint.sh)
#
# Every message either module prints at warning level or above must have a
# row in docs/troubleshooting.md, and every row must name such a message.
# Messages are the format strings of the calls to dev_/pci_/pr_/netdev_
# {emerg,alert,crit,err,warn}[_once|_ratelimited], dev_err_probe, printk
# with KERN_ERR..KERN_EMERG or KERN_WARNING, WARN/WARN_ONCE/dev_WARN*, and
# of functions that pass a format on to one of them with %pV (found by
# that, with the parameter named fmt). WARN_ON, WARN_ON_ONCE, BUG_ON and
# BUG print no message of their own: their key is the call as written,
# e.g. WARN_ON_ONCE(!list_empty(&bdev->buffers)). A format is the
# concatenation of its string literals, with #define NAME "..." macros of
# the scanned files put in, C escapes decoded and a trailing \n dropped. A
# row is a table line whose first cell is that text in backquotes.
#
# Exit 0 when both sets agree; else 1, naming each missing or stale one.

use strict;
use warnings;

my $tree = shift // '.';
my $doc = "$tree/docs/troubleshooting.md";
my @files = sort map { glob("$tree/$_/*.[ch]") } qw(src importer);
@files = grep { !/\.mod\.c$/ } @files;
die "check-messages: no sources under $tree/src and $tree/importer\n" unless @files;

# Drop comments, keep string and character literals intact.
sub strip_comments {
	my ($s) = @_;
	my $out = '';
	while ($s =~ m{\G(?:(/\*.*?\*/)|(//[^\n]*)|("(?:\\.|[^"\\])*")|('(?:\\.|[^'\\])*')|([^/"']+|.))}gsc) {
		if (defined $1) {
			(my $c = $1) =~ s/[^\n]/ /g;	# keep line numbers
			$out .= $c;
		} elsif (defined $2) {
			$out .= ' ' x length($2);
		} else {
			$out .= $&;
		}
	}
	return $out;
}

# The arguments of the call whose '(' is at $pos: (list of arg texts, end).
sub call_args {
	my ($s, $pos) = @_;
	my ($depth, $i, $start, @args) = (0, $pos, $pos + 1);
	while ($i < length $s) {
		my $c = substr($s, $i, 1);
		if ($c eq '"' || $c eq "'") {
			my $rest = substr($s, $i);
			$rest =~ /^($c(?:\\.|[^$c\\])*$c)/s or return;
			$i += length $1;
			next;
		}
		if ($c eq '(' || $c eq '[' || $c eq '{') {
			$depth++;
		} elsif ($c eq ')' || $c eq ']' || $c eq '}') {
			$depth--;
			if ($depth == 0) {
				push @args, substr($s, $start, $i - $start);
				return (\@args, $i);
			}
		} elsif ($c eq ',' && $depth == 1) {
			push @args, substr($s, $start, $i - $start);
			$start = $i + 1;
		}
		$i++;
	}
	return;
}

my %defines;	# NAME => its string literal
my %text;	# file => comment-free text
for my $f (@files) {
	open(my $fh, '<', $f) or die "check-messages: $f: $!\n";
	local $/;
	$text{$f} = strip_comments(<$fh>);
	close $fh;
	while ($text{$f} =~ /^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+("(?:\\.|[^"\\])*")[ \t]*$/mg) {
		$defines{$1} = $2;
	}
}

sub decode {
	my ($lit) = @_;
	$lit =~ s/\\(n|t|"|'|\\)/$1 eq 'n' ? "\n" : $1 eq 't' ? "\t" : $1/ge;
	return $lit;
}

# The format of an argument: its literals (and defined names) joined;
# undef when it holds none.
sub format_of {
	my ($arg) = @_;
	my ($fmt, $any) = ('', 0);
	while ($arg =~ /("(?:\\.|[^"\\])*")|\b([A-Za-z_]\w*)\b/g) {
		if (defined $1) {
			$fmt .= decode(substr($1, 1, -1));
			$any = 1;
		} elsif (exists $defines{$2}) {
			$fmt .= decode(substr($defines{$2}, 1, -1));
			$any = 1;
		}
	}
	return unless $any;
	$fmt =~ s/\n$//;
	return $fmt;
}

sub line_of {
	my ($s, $pos) = @_;
	return 1 + (substr($s, 0, $pos) =~ tr/\n//);
}

# printer name => index of its format argument (0: no format, key = call)
my %printer;
for my $lvl (qw(emerg alert crit err warn)) {
	for my $sfx ('', '_once', '_ratelimited') {
		$printer{"pr_$lvl$sfx"} = 1;
		$printer{"${_}_$lvl$sfx"} = 2 for qw(dev pci netdev);
	}
}
$printer{dev_err_probe} = 3;
$printer{printk} = 1;
$printer{WARN} = 2;
$printer{WARN_ONCE} = 2;
$printer{WARN_TAINT} = 3;
$printer{WARN_TAINT_ONCE} = 3;
$printer{dev_WARN} = 2;
$printer{dev_WARN_ONCE} = 3;
$printer{$_} = 0 for qw(WARN_ON WARN_ON_ONCE BUG_ON BUG);

my (%found, @errors);	# message => "file:line" of its first use
my %wrapper_seen;
for (my $round = 0; $round < 5; $round++) {
	my $new = 0;
	%found = ();
	for my $f (@files) {
		my $s = $text{$f};
		my $names = join '|', map { quotemeta } sort { length $b <=> length $a } keys %printer;
		while ($s =~ /\b($names)\s*\(/g) {
			my ($name, $at, $open) = ($1, $-[0], $+[0] - 1);
			my $resume = pos($s);
			my $before = substr($s, 0, $at);
			my $where = ($f =~ s{^\Q$tree\E/}{}r) . ':' . line_of($s, $at);
			# a definition or prototype of a wrapper is no call
			if ($before =~ /(?:void|int|bool)\s*\**\s*$/) {
				pos($s) = $resume;
				next;
			}
			my ($args, $end) = call_args($s, $open);
			pos($s) = $resume;
			unless ($args) {
				push @errors, "$where: cannot read the arguments of $name()";
				next;
			}
			my $idx = $printer{$name};
			my $key;
			if ($idx == 0) {
				($key = "$name(" . join(',', @$args) . ')') =~ s/\s+/ /g;
				$key =~ s/\(\s+/(/g;
				$key =~ s/\s+\)/)/g;
			} elsif ($name eq 'printk') {
				my $level = $args->[0] // '';
				next unless $level =~ /\bKERN_(?:EMERG|ALERT|CRIT|ERR|WARNING)\b/;
				$key = format_of($level);
			} else {
				$key = format_of($args->[$idx - 1] // '');
			}
			unless (defined $key) {
				# a macro body passing its own format on
				next if ($args->[$idx - 1] // '') =~ /__VA_ARGS__|\bfmt\b/ &&
					$before =~ /#\s*define[^\n]*(?:\\\n[^\n]*)*$/;
				push @errors, "$where: the format of $name() is no string literal";
				next;
			}
			if ($key =~ /%pV/) {
				# a wrapper: its callers' formats are the messages.
				# Kernel style: the body's { opens a line of its own,
				# after the header.
				my ($fn, $params);
				if ($before =~ /(?:^|[;}]\s*\n)([^;{}#]*?)\n\{\s*\n[^\n]*$/s ||
				    $before =~ /(?:^|[;}]\s*\n)([^;{}#]*?)\n\{[^{}]*(?:\{[^{}]*\}[^{}]*)*$/s) {
					(my $h = $1) =~ s/__printf\s*\([^)]*\)//g;
					($fn, $params) = $h =~ /\b(\w+)\s*\((.*)\)\s*$/s;
				}
				unless (defined $fn) {
					push @errors, "$where: %pV outside a function";
					next;
				}
				my @p = split /,/, $params;
				my ($fi) = grep { $p[$_] =~ /\bfmt\s*$/ } 0 .. $#p;
				unless (defined $fi) {
					push @errors, "$where: $fn() passes %pV on but has no parameter named fmt";
					next;
				}
				unless ($wrapper_seen{$fn}++) {
					$printer{$fn} = $fi + 1;
					$new = 1;
				}
				next;
			}
			$found{$key} //= $where;
		}
	}
	last unless $new;
}

open(my $dh, '<', $doc) or do {
	print STDERR "check-messages: no $doc\n";
	exit 1;
};
my %rows;
while (my $l = <$dh>) {
	next unless $l =~ /^\|\s*`((?:[^`\\]|\\.)*)`\s*\|/;
	(my $m = $1) =~ s/\\\|/|/g;
	$rows{$m} = $.;
}
close $dh;

my @missing = grep { !exists $rows{$_} } sort keys %found;
my @stale = grep { !exists $found{$_} } sort { $rows{$a} <=> $rows{$b} } keys %rows;
print "check-messages: no row in docs/troubleshooting.md for ($found{$_}): $_\n" for @missing;
print "check-messages: docs/troubleshooting.md:$rows{$_}: no such message in the sources: $_\n" for @stale;
print "check-messages: $_\n" for @errors;
my $n = keys %found;
if (@missing || @stale || @errors) {
	printf "check-messages: %d message(s), %d missing, %d stale, %d unreadable\n",
		$n, scalar @missing, scalar @stale, scalar @errors;
	exit 1;
}
print "check-messages: all $n message(s) of warning level or above have a row\n";
exit 0;
