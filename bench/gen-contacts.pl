#!/usr/bin/perl
# gen-contacts.pl N > file.csv: N distinct contacts for the audience bench,
# the columns phone,name,email,tags,city,plan (the last two become
# attributes). Phones +1 415 2xx xxxx are unique; names are a first name of
# 100 and a last name of 100 (a prefix search finds about 1% of them);
# every contact has one or two of 20 tags (t00..t19, about 7.5% each).
use strict;
use warnings;

my $n = shift // 1_000_000;
my @first = map { ucfirst } qw(ada alan anna boris carla chen david dora emil
    erin farah felix gina grace hana hugo ines ivan jade jonas kara kofi lars
    lena mara mateo nadia noah olga omar paula pedro qing quinn rosa ravi sara
    sven tara theo uma ugo vera victor wen will xena ximo yara yusuf zara zeno
    amir bela cyra dario elif fumi goran hedda ilse joao kemal lucia milan nora
    oscar pia rafael selma tomas ulla valeria wim yosef zoltan aiko bruno cleo
    dmitri esme fatma gil helga igor jana kai liam mina nils otto priya rune
    sofia tiago una vilja wanda yoko zhi);
my @last = map { ucfirst } qw(smith jones garcia muller rossi silva kim wang
    nguyen khan ivanov novak horvat jensen berg dubois martin lopez gomez
    perez costa santos pereira ferreira oliveira rodriguez fernandez sanchez
    romero torres ramirez flores rivera moreno alvarez ruiz diaz hernandez
    schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch
    richter klein wolf neumann schwarz zimmermann braun hartmann lange werner
    krause lehmann kohler maier kaiser fuchs peters lang scholz jung hahn vogel
    friedrich keller gunther frank berger winkler roth beck lorenz baumann
    franke albrecht schuster simon ludwig bohm winter kraus martens schubert
    jager vogt otto sommer stein gross seidel heinrich brandt haas schreiber);
my @city = qw(Lisbon Berlin Lagos Lima Oslo Pune Quito Seoul Tunis Zagreb);
my @plan = qw(free basic pro team);

$| = 0;
print "phone,name,email,tags,city,plan\n";
for my $i (1 .. $n) {
    my $f = $first[$i % @first];
    my $l = $last[int($i / @first) % @last];
    my $t = sprintf 't%02d', $i % 20;
    $t .= sprintf ';t%02d', ($i * 7 + 3) % 20 if $i % 3 == 0;
    printf "+1415%07d,%s %s,%s.%s%d\@example.com,%s,%s,%s\n", 2000000 + $i,
        $f, $l, lc $f, lc $l, $i, $t, $city[$i % 10], $plan[$i % 4];
}
