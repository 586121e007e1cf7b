#!/usr/bin/perl
# perl_queue.pl [COUNT] - two perl threads pass COUNT strings (default 400000) through a
# Thread::Queue bounded to 1000 items: the producer builds each string (joins, sprintf,
# repetition), the consumer splits it, rebuilds a hash from it and checksums it. Every
# enqueue copies the string into shared memory and every dequeue copies it out, so
# allocation happens on both threads and memory crosses between them.
use strict;
use warnings;
use threads;
use Thread::Queue;

my $count = shift // 400000;
my $q = Thread::Queue->new();
$q->limit = 1000;

my $consumer = threads->create(sub {
    my ($n, $sum) = (0, 0);
    while (defined(my $s = $q->dequeue())) {
        my %h = map { split /=/, $_, 2 } split /;/, $s;
        $sum = ($sum + length($s) + scalar(keys %h) + length($h{k0} // '')) % 1000000007;
        $n++;
    }
    return "$n $sum";
});

my $seed = 7;
for my $i (1 .. $count) {
    $seed = ($seed * 1103515245 + 12345) % 2147483648;
    my $fields = 2 + $seed % 9;
    my $s = join ';', map { sprintf('k%d=%s', $_, 'v' x (($seed >> $_) % 40)) } 0 .. $fields;
    $q->enqueue($s);
}
$q->end();
my ($n, $sum) = split / /, $consumer->join();
print "perl_queue: $n strings, checksum $sum\n";
