#!/usr/bin/perl
# SPDX-License-Identifier: BSD-2-Clause
# tests/unit/geo/make-test-mmdb.pl OUTDIR [--networks N]
#
# Writes the MaxMind DB files the geo tests use (Debian's
# libmaxmind-db-writer-perl), into OUTDIR:
#   test-country.mmdb   GeoLite2-Country layout, IPv6 tree with the IPv4 space
#   test-city.mmdb      GeoLite2-City layout (subdivisions, city names)
#   test-asn.mmdb       GeoLite2-ASN layout
#   test-asn-v4.mmdb    the same, IPv4-only tree (ip_version 4)
#   test-flat.mmdb      ip-location-db layout (top-level country_code, city)
# Loopback addresses (usable as client source addresses by integration
# tests: every 127.0.0.0/8 address is local on Linux) and ::1 are located:
#   127.0.0.2  DE / EU, Berlin (BE), AS64500
#   127.0.0.3  US / NA, San Francisco (CA), AS64501
#   127.0.0.4  JP / AS, AS64502
#   127.0.0.5  continent EU only (no country)
#   127.0.0.6  BR / SA, a city name longer than the lookup keeps
#   127.0.1.0/24  NL / EU, AS64510
#   ::1        FR / EU, Paris (IDF), AS64503
#   192.0.2.0/24  GB / EU (TEST-NET-1)
#   2001:db8::/32  NL / EU, Amsterdam (NH), AS64496
#   2001:db8:ffff::/48  CA / NA (inside the /32 above)
# Anything else is not in the databases.
#
# With --networks N it writes OUTDIR/bench-country.mmdb instead: N random
# IPv4 networks (/16 to /24) and N/4 IPv6 ones (/32 to /48) over a few dozen
# countries, for tools/bench/micro_geo.
use strict;
use warnings;
use utf8;

my $have_writer = eval {
	require MaxMind::DB::Writer::Tree;
	1;
};
unless ($have_writer) {
	print STDERR "make-test-mmdb.pl: MaxMind::DB::Writer::Tree is missing: "
	    . "install the Debian package libmaxmind-db-writer-perl\n";
	exit 1;
}

my $out = shift @ARGV or die "usage: make-test-mmdb.pl OUTDIR [--networks N]\n";
my $bench = 0;
if (@ARGV >= 2 && $ARGV[0] eq '--networks') {
	$bench = $ARGV[1];
	die "--networks wants a positive count\n" unless $bench =~ /^[1-9][0-9]*$/;
}

my %types = (
	country                        => 'map',
	registered_country             => 'map',
	continent                      => 'map',
	city                           => 'map',
	subdivisions                   => ['array', 'map'],
	names                          => 'map',
	en                             => 'utf8_string',
	de                             => 'utf8_string',
	iso_code                       => 'utf8_string',
	code                           => 'utf8_string',
	geoname_id                     => 'uint32',
	autonomous_system_number       => 'uint32',
	autonomous_system_organization => 'utf8_string',
	country_code                   => 'utf8_string',
);

sub tree {
	my ($type, $ipv, $types) = @_;
	return MaxMind::DB::Writer::Tree->new(
		ip_version            => $ipv,
		record_size           => 28,
		database_type         => $type,
		languages             => ['en'],
		description           => { en => "Outpost test database ($type)" },
		map_key_type_callback => sub { $types->{ $_[0] } },
		remove_reserved_networks => 0,
		alias_ipv6_to_ipv4    => 0,
	);
}

sub write_tree {
	my ($t, $name) = @_;
	my $path = "$out/$name";
	open my $fh, '>:raw', "$path.tmp" or die "$path.tmp: $!\n";
	$t->write_tree($fh);
	close $fh or die "$path.tmp: $!\n";
	rename "$path.tmp", $path or die "$path: $!\n";
}

sub country {
	my ($cc, $cont) = @_;
	my %r;
	$r{country} = { iso_code => $cc, names => { en => "Country $cc" } } if defined $cc;
	$r{continent} = { code => $cont, names => { en => "Continent $cont" } } if defined $cont;
	return \%r;
}

sub city {
	my ($cc, $cont, $region, $city) = @_;
	my $r = country($cc, $cont);
	$r->{subdivisions} = [ { iso_code => $region, names => { en => "Region $region" } } ]
	    if defined $region;
	$r->{city} = { geoname_id => 1, names => { en => $city, de => "$city (de)" } }
	    if defined $city;
	return $r;
}

if ($bench) {
	my @cc = qw(DE FR GB US CA BR JP CN IN AU ZA NG EG RU IT ES NL SE NO PL MX AR KR ID);
	my %cont = (DE => 'EU', FR => 'EU', GB => 'EU', IT => 'EU', ES => 'EU', NL => 'EU',
		SE => 'EU', NO => 'EU', PL => 'EU', RU => 'EU', US => 'NA', CA => 'NA',
		MX => 'NA', BR => 'SA', AR => 'SA', JP => 'AS', CN => 'AS', IN => 'AS',
		KR => 'AS', ID => 'AS', AU => 'OC', ZA => 'AF', NG => 'AF', EG => 'AF');
	my $t = tree('Outpost-Bench-Country', 6, \%types);
	srand(42);
	for my $i (1 .. $bench) {
		my $plen = 16 + int(rand(9));
		my $a = int(rand(223 - 1)) + 1;
		my $net = sprintf('%d.%d.%d.0', $a, int(rand(256)), int(rand(256)));
		my $cc = $cc[ int(rand(@cc)) ];
		$t->insert_network("$net/$plen", country($cc, $cont{$cc}));
	}
	for my $i (1 .. int($bench / 4) + 1) {
		my $plen = 32 + int(rand(17));
		my $net = sprintf('2%03x:%x:%x::', int(rand(0xfff)), int(rand(0x10000)),
			int(rand(0x10000)));
		my $cc = $cc[ int(rand(@cc)) ];
		$t->insert_network("$net/$plen", country($cc, $cont{$cc}));
	}
	write_tree($t, 'bench-country.mmdb');
	exit 0;
}

my $long = 'Ŝ' x 40;    # 80 bytes of two-byte characters

my @places = (
	# network, country, continent, region, city, asn
	['127.0.0.2/32', 'DE', 'EU', 'BE', 'Berlin', 64500],
	['127.0.0.3/32', 'US', 'NA', 'CA', 'San Francisco', 64501],
	['127.0.0.4/32', 'JP', 'AS', undef, undef, 64502],
	['127.0.0.5/32', undef, 'EU', undef, undef, undef],
	['127.0.0.6/32', 'BR', 'SA', 'SP', "Santo $long", undef],
	['127.0.1.0/24', 'NL', 'EU', undef, undef, 64510],
	['::1/128', 'FR', 'EU', 'IDF', 'Paris', 64503],
	['192.0.2.0/24', 'GB', 'EU', undef, undef, undef],
	['2001:db8::/32', 'NL', 'EU', 'NH', 'Amsterdam', 64496],
	['2001:db8:ffff::/48', 'CA', 'NA', undef, undef, undef],
);

my $tc = tree('Outpost-Test-Country', 6, \%types);
my $ty = tree('Outpost-Test-City', 6, \%types);
my $ta = tree('Outpost-Test-ASN', 6, \%types);
my $t4 = tree('Outpost-Test-ASN', 4, \%types);
my $tf = tree('Outpost-Test-Flat', 6, { country_code => 'utf8_string', city => 'utf8_string' });
for my $p (@places) {
	my ($net, $cc, $cont, $region, $cty, $asn) = @$p;
	$tc->insert_network($net, country($cc, $cont));
	$ty->insert_network($net, city($cc, $cont, $region, $cty));
	if (defined $asn) {
		my $rec = {
			autonomous_system_number       => $asn,
			autonomous_system_organization => "Org $asn",
		};
		$ta->insert_network($net, $rec);
		$t4->insert_network($net, $rec) if $net !~ /:/;
	}
	if (defined $cc) {
		my %flat = (country_code => $cc);
		$flat{city} = $cty if defined $cty;
		$tf->insert_network($net, \%flat);
	}
}
write_tree($tc, 'test-country.mmdb');
write_tree($ty, 'test-city.mmdb');
write_tree($ta, 'test-asn.mmdb');
write_tree($t4, 'test-asn-v4.mmdb');
write_tree($tf, 'test-flat.mmdb');
