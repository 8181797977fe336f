# Write 81 MB of /tmp/c100.jsonl from a memory map to a new file in 1 MB writes, then fsync:
# `plain`, or `sfr N` = start write-back (sync_file_range WRITE) every N MB as dedup's kept
# writer does. Prints write and fsync seconds. Used for benches/README.md "dedup3 (session 4)".
#   python3 benches/tools/writeback_probe.py plain; python3 benches/tools/writeback_probe.py sfr 8
import os, time, mmap, ctypes, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
src = open('/tmp/c100.jsonl','rb'); m = mmap.mmap(src.fileno(), 0, prot=mmap.PROT_READ)
N = 81_000_000
mv = memoryview(m)[:N]
mode = sys.argv[1]
path = '/tmp/writeback_probe.tmp'
if os.path.exists(path): os.unlink(path)
t0 = time.perf_counter(); c0 = os.times()
fd = os.open(path, os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644)
CH = 1<<20
SFR = int(sys.argv[2]) if len(sys.argv) > 2 else 8
for off in range(0, N, CH):
    os.write(fd, mv[off:off+CH])
    if mode == 'sfr' and (off // CH) % SFR == SFR-1:
        libc.sync_file_range(fd, ctypes.c_longlong(off+CH-SFR*CH), ctypes.c_longlong(SFR*CH), 2)
t1 = time.perf_counter()
os.fsync(fd)
t2 = time.perf_counter(); c2 = os.times()
os.close(fd)
print(mode, f"write {t1-t0:.4f} fsync {t2-t1:.4f} total {t2-t0:.4f} cpu {c2.user-c0.user+c2.system-c0.system:.3f}")
os.unlink(path)
