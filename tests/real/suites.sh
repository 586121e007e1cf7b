# shellcheck shell=bash
# suites.sh: the suites of test-real, sourced by run.sh. A suite S defines
#   items_S quick|full   its items (test modules, test programs), one a line;
#   cmd_S ITEM           the command that runs one item, one argument a line;
#   timeout_S            seconds allowed to one item;
#   unit_S               what an item is, for the report;
#   nostats_S ITEM       true if the item runs under aslab without ASLAB_STATS=1 (and so
#                        without the check that malloc bound to aslab).

# ---- python: Python 3.11's regression tests (Debian's libpython3.11-testsuite) --------------
# Debian's /usr/bin/python3 (not a python3 earlier in PATH), PYTHONMALLOC=malloc so that every
# object goes through malloc rather than pymalloc's arenas. One `python -m test MODULE` process
# per module. ASLAB_STATS is taken out of the environment before the tests start (aslab has
# read it by then), so the interpreter that runs the tests prints the report at exit but the
# interpreters the tests spawn, and whose stderr many tests compare with b'', do not.
PY=/usr/bin/python3
PY_MAIN='import os; os.environ.pop("ASLAB_STATS", None); from test.libregrtest import main; main()'

# Allocation-heavy modules that pass under glibc here (as root, without network).
PY_FULL=(
    test_dict test_set test_json test_re test_unicode test_threading test_pickle test_gc
    test_weakref test_collections test_list test_tuple test_bytes test_itertools
    test_functools test_heapq test_bisect test_array test_deque test_sort test_string
    test_format test_struct test_codecs test_decimal test_fractions test_statistics
    test_random test_math test_enum test_dataclasses test_copy test_ordered_dict
    test_userdict test_memoryview test_marshal test_csv test_xml_etree test_hashlib test_zlib
    test_base64 test_textwrap test_userlist test_userstring test_long test_float test_complex
    test_operator test_contextlib test_types test_typing test_difflib test_pprint test_bz2
    test_lzma test_fstring test_ast test_grammar test_exceptions test_class test_descr
    test_dictviews test_genexps test_iter test_slice test_zipfile test_tokenize
    test_unicodedata test_minidom test_html test_email test_argparse test_configparser
    test_queue test_thread
)
# test-real-quick's share: a few seconds each, dicts, sets, strings, pickles, the GC,
# weak references, threads.
PY_QUICK=(
    test_dict test_set test_json test_re test_pickle test_gc test_weakref test_collections
    test_list test_bytes test_itertools test_deque test_ordered_dict test_thread
)

items_python() {
    if [ "$1" = quick ]; then printf '%s\n' "${PY_QUICK[@]}"; else printf '%s\n' "${PY_FULL[@]}"; fi
}
cmd_python() { printf '%s\n' PYTHONMALLOC=malloc "$PY" -c "$PY_MAIN" --timeout 300 "$1"; }
timeout_python() { echo 400; }
nostats_python() { false; }
unit_python() { echo modules; }

# ---- glib: GLib's installed tests (Debian's libglib2.0-tests) -------------------------------
# Each /usr/share/installed-tests/glib/NAME.test names its program on its Exec= line (as
# gnome-desktop-testing-runner reads it); the program runs alone, its exit status is the verdict.
GLIB_TESTS=/usr/share/installed-tests/glib
# Left out of the full run:
#   gsocketclient-slow: its Exec= line sets LD_PRELOAD itself, so aslab would not be preloaded;
#   performance, performance-threaded, thread-pool-slow: benchmarks and slow tests that
#   time out here under glibc already;
#   file, fileutils: fail under glibc here (they expect a non-root user).
GLIB_SKIP='^(gsocketclient-slow|performance|performance-threaded|thread-pool-slow|file|fileutils)$'
# test-real-quick's share: GLib's containers, strings, variants, GObject, threads, main loop.
GLIB_QUICK=(
    array-test hash list slist queue sequence tree node string strfuncs unicode
    gvariant gdatetime bytes refstring cache dataset keyfile markup-parse regex
    base64 checksum sort mutex cond once thread asyncqueue mainloop signals
    properties object references type binding closure
)

items_glib() {
    if [ "$1" = quick ]; then
        printf '%s\n' "${GLIB_QUICK[@]}"
    else
        find "$GLIB_TESTS" -name '*.test' -printf '%f\n' | sed 's/\.test$//' |
            grep -Ev "$GLIB_SKIP" | sort
    fi
}
cmd_glib() {
    local exec
    exec=$(sed -n 's/^Exec=//p' "$GLIB_TESTS/$1.test")
    tr ' ' '\n' <<<"$exec"
}
timeout_glib() { echo 120; }
# Programs that compare the stdout or stderr of processes they spawn with an exact value, which
# the report ASLAB_STATS=1 makes every process print at exit would break: they run under aslab
# without ASLAB_STATS, so their binding is not checked.
GLIB_NOSTATS='^(codegen.py|genmarshal.py|mkenums.py|gobject-query.py|gdbus-address-get-session|gsubprocess|option-context|signalgroup|spawn-singlethread|spawn-test)$'
nostats_glib() { grep -Eq "$GLIB_NOSTATS" <<<"$1"; }
unit_glib() { echo programs; }
