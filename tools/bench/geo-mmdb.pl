#!/usr/bin/perl
# SPDX-License-Identifier: BSD-2-Clause
# tools/bench/geo-mmdb.pl OUTDIR N
#
# Writes the MaxMind DB files of tools/bench/run's geo scenario (Debian's
# libmaxmind-db-writer-perl) into OUTDIR:
#   bench-country.mmdb  GeoLite2-Country layout: N random IPv4 networks (/16
#                       to /24) and N/4 IPv6 ones (/32 to /48) over 24
#                       countries, and 127.0.0.0/8 (the benchmark's clients)
#                       DE / EU
#   bench-asn.mmdb      GeoLite2-ASN layout: the same networks, each its own
#                       ASN, and 127.0.0.0/8 AS64500
# The same seed every run: the same files.
use strict;
use warnings;

eval { require MaxMind::DB::Writer::Tree; 1 }
    or die "geo-mmdb.pl: MaxMind::DB::Writer::Tree is missing: "
    . "install the Debian package libmaxmind-db-writer-perl\n";

my ($out, $n) = @ARGV;
die "usage: geo-mmdb.pl OUTDIR N\n" unless defined $n && $n =~ /^[1-9][0-9]*$/;

my %types = (
	country                        => 'map',
	continent                      => 'map',
	names                          => 'map',
	en                             => 'utf8_string',
	iso_code                       => 'utf8_string',
	code                           => 'utf8_string',
	autonomous_system_number       => 'uint32',
	autonomous_system_organization => 'utf8_string',
);

sub tree {
	return MaxMind::DB::Writer::Tree->new(
		ip_version               => 6,
		record_size              => 28,
		database_type            => $_[0],
		languages                => ['en'],
		description              => { en => "Outpost benchmark database ($_[0])" },
		map_key_type_callback    => sub { $types{ $_[0] } },
		remove_reserved_networks => 0,
		alias_ipv6_to_ipv4       => 0,
	);
}

sub country {
	my ($cc, $cont) = @_;
	return { country => { iso_code => $cc, names => { en => "Country $cc" } },
		continent => { code => $cont, names => { en => "Continent $cont" } } };
}

sub asn { return { autonomous_system_number => $_[0], autonomous_system_organization => "Org $_[0]" } }

my @cc = qw(DE FR GB US CA BR JP CN IN AU ZA NG EG RU IT ES NL SE NO PL MX AR KR ID);
my %cont = (DE => 'EU', FR => 'EU', GB => 'EU', IT => 'EU', ES => 'EU', NL => 'EU',
	SE => 'EU', NO => 'EU', PL => 'EU', RU => 'EU', US => 'NA', CA => 'NA',
	MX => 'NA', BR => 'SA', AR => 'SA', JP => 'AS', CN => 'AS', IN => 'AS',
	KR => 'AS', ID => 'AS', AU => 'OC', ZA => 'AF', NG => 'AF', EG => 'AF');
my $tc = tree('Outpost-Bench-Country');
my $ta = tree('Outpost-Bench-ASN');
srand(42);
my @nets;
for my $i (1 .. $n) {
	my $a = 1 + int(rand(222));
	$a++ if $a >= 127;    # 127/8 is the clients' (below)
	push @nets, sprintf('%d.%d.%d.0/%d', $a, int(rand(256)), int(rand(256)), 16 + int(rand(9)));
}
for my $i (1 .. int($n / 4) + 1) {
	push @nets, sprintf('2%03x:%x:%x::/%d', int(rand(0xfff)), int(rand(0x10000)),
		int(rand(0x10000)), 32 + int(rand(17)));
}
my $k = 0;
for my $net (@nets) {
	my $cc = $cc[ int(rand(@cc)) ];
	$tc->insert_network($net, country($cc, $cont{$cc}));
	$ta->insert_network($net, asn(65536 + $k++));
}
$tc->insert_network('127.0.0.0/8', country('DE', 'EU'));
$ta->insert_network('127.0.0.0/8', asn(64500));

for ([ $tc, 'bench-country.mmdb' ], [ $ta, 'bench-asn.mmdb' ]) {
	my ($t, $name) = @$_;
	my $path = "$out/$name";
	open my $fh, '>:raw', "$path.tmp" or die "$path.tmp: $!\n";
	$t->write_tree($fh);
	close $fh or die "$path.tmp: $!\n";
	rename "$path.tmp", $path or die "$path: $!\n";
}
