#!/bin/bash
# civicrm-names.sh — lint: CiviCRM table names (civicrm_*) appear in string literals only in shared/registry.c and shared/registry_*.c (registry_tables.c, registry_custom.c, registry_files.c...).
#
# Usage: tests/lint/civicrm-names.sh [REPO_DIR]
# The registry (shared/registry.c, with every table's class in shared/registry_tables.c) is the only place that knows CiviCRM's shape: every other .c/.h
# file of shared/ producer/ consumer/ topics/ reads table and column names from it. Comments are
# ignored. Prints one line per offending literal (file:line: "literal") on stdout and nothing
# when clean (tests/lint.sh's check convention; `make lint` runs it); exit 0 when clean, else 1.
set -u
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" || exit 1

files=$(find shared producer consumer topics -name '*.[ch]' ! -path 'shared/registry*.c' 2>/dev/null | sort)
[ -n "$files" ] || { echo "civicrm-names: no sources found under $(pwd)"; exit 1; }
# perl: blank comments (keeping line numbers), then report string literals naming civicrm_*.
hits=$(perl -e '
        for my $f (@ARGV) {
                open(my $fh, "<", $f) or die "civicrm-names: $f: $!\n";
                local $/; my $src = <$fh>; close $fh;
                $src =~ s{("(?:\\.|[^"\\\n])*")|(/\*.*?\*/)|(//[^\n]*)}
                         { defined $1 ? $1 : defined $2 ? ($2 =~ s/[^\n]//gr) : "" }gse;
                my $n = 0;
                for my $line (split /\n/, $src, -1) {
                        $n++;
                        while ($line =~ /("(?:\\.|[^"\\])*")/g) {
                                my $lit = $1;
                                print "$f:$n: $lit\n" if $lit =~ /civicrm_[a-z_]+/;
                        }
                }
        }' $files)
[ $? -eq 0 ] || { echo "civicrm-names: perl failed"; exit 1; }
if [ -n "$hits" ]; then
        printf '%s  (move it into shared/registry.c)\n' "$hits"
        exit 1
fi
exit 0
