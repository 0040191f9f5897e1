#!/bin/sh
# An example command task: counts to N, reporting progress on stdout in the Overview protocol
# ("FRACTION<TAB>MESSAGE" per line), then writes its result to the output file.
#   count.sh N DELAY_SECONDS OUTPUT
n=$1 delay=$2 out=$3
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  printf '%s\tcounted %d of %d\n' "$(awk "BEGIN { print $i / $n }")" "$i" "$n"
  sleep "$delay"
done
echo "counted to $n" > "$out"
