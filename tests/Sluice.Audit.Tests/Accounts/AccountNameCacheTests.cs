using Microsoft.Extensions.Time.Testing;
using Sluice.Audit.Accounts;

namespace Sluice.Audit.Tests.Accounts;

public sealed class AccountNameCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sluice-accounts-").FullName;
    private readonly FakeTimeProvider _time = new();

    public AccountNameCacheTests() => Directory.CreateDirectory(Path.Combine(_root, "etc"));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Passwd => Path.Combine(_root, "etc", "passwd");

    private string Group => Path.Combine(_root, "etc", "group");

    [Fact]
    public void Names_FixtureFiles_KnownIdsNamedUnknownNot()
    {
        var cache = new AccountNameCache(RepoPaths.Fixture("accounts"));

        Assert.Equal("root", cache.UserName(0));
        Assert.Equal("corpususer", cache.UserName(1001));
        Assert.Equal("nobody", cache.UserName(65534));
        Assert.Null(cache.UserName(1000));
        Assert.Null(cache.UserName(1002));
        Assert.Null(cache.UserName(uint.MaxValue));
        Assert.Equal("root", cache.GroupName(0));
        Assert.Equal("shadow", cache.GroupName(42));
        Assert.Null(cache.GroupName(43));
    }

    [Fact]
    public void Names_IdOnTwoLines_FirstLineWins()
    {
        var cache = new AccountNameCache(RepoPaths.Fixture("accounts"));

        // toor (uid 0) comes after root
        Assert.Equal("root", cache.UserName(0));
    }

    [Fact]
    public void Status_MalformedLines_SkippedAndCounted()
    {
        var cache = new AccountNameCache(RepoPaths.Fixture("accounts"));

        AccountFileStatus users = cache.Users;
        AccountFileStatus groups = cache.Groups;

        Assert.True(users.Exists);
        Assert.Equal(4, users.Entries); // root, daemon, corpususer, nobody (toor shares uid 0)
        Assert.Equal(2, users.MalformedLines);
        Assert.Equal(7, users.FirstMalformedLine);
        Assert.Equal(1, groups.MalformedLines);
        Assert.Equal(5, groups.FirstMalformedLine);
        Assert.Equal(5, groups.Entries);
        Assert.Null(users.LastError);
    }

    [Fact]
    public void Names_FileChanged_ReloadedOnlyAfterTheInterval()
    {
        File.WriteAllText(Passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n");
        var loads = new List<AccountFileStatus>();
        var cache = new AccountNameCache(_root, _time, loads.Add);
        Assert.Equal("alice", cache.UserName(1000));

        File.WriteAllText(Passwd, "alicia:x:1000:1000::/home/alicia:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n");
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal("alice", cache.UserName(1000));
        Assert.Null(cache.UserName(1001));

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("alicia", cache.UserName(1000));
        Assert.Equal("bob", cache.UserName(1001));
        Assert.Equal(2, cache.Users.Loads);
        Assert.Equal([1, 2], loads.Where(l => l.Path == Passwd).Select(l => l.Entries));
    }

    [Fact]
    public void Names_SameSizeNewMtime_Reloaded()
    {
        File.WriteAllText(Passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n");
        File.SetLastWriteTimeUtc(Passwd, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var cache = new AccountNameCache(_root, _time);
        Assert.Equal("alice", cache.UserName(1000));

        File.WriteAllText(Passwd, "alina:x:1000:1000::/home/alina:/bin/sh\n");
        File.SetLastWriteTimeUtc(Passwd, new DateTime(2026, 1, 1, 0, 0, 1, DateTimeKind.Utc));
        _time.Advance(AccountNameCache.CheckInterval);

        Assert.Equal("alina", cache.UserName(1000));
    }

    [Fact]
    public void Names_UnchangedFile_NotReadAgain()
    {
        File.WriteAllText(Passwd, "alice:x:1000:1000::/home/alice:/bin/sh\n");
        var cache = new AccountNameCache(_root, _time);
        string? first = cache.UserName(1000);

        for (int i = 0; i < 5; i++)
        {
            _time.Advance(AccountNameCache.CheckInterval);
            // the same string object: events share the cached name
            Assert.Same(first, cache.UserName(1000));
        }
        Assert.Equal(1, cache.Users.Loads);
    }

    [Fact]
    public void Names_MissingFile_NoNamesUntilItAppears()
    {
        var loads = new List<AccountFileStatus>();
        var cache = new AccountNameCache(_root, _time, loads.Add);

        Assert.Null(cache.GroupName(0));
        Assert.False(cache.Groups.Exists);

        File.WriteAllText(Group, "root:x:0:\n");
        _time.Advance(AccountNameCache.CheckInterval);

        Assert.Equal("root", cache.GroupName(0));
        Assert.True(cache.Groups.Exists);
        Assert.Equal([false, true], loads.Where(l => l.Path == Group).Select(l => l.Exists));
    }

    [Fact]
    public void Names_FileBecomesUnreadable_PreviousNamesKeptAndFailureCounted()
    {
        File.WriteAllText(Group, "root:x:0:\n");
        var loads = new List<AccountFileStatus>();
        var cache = new AccountNameCache(_root, _time, loads.Add);
        Assert.Equal("root", cache.GroupName(0));

        // a file over the size limit is refused (a sparse file: no disk used)
        using (var f = new FileStream(Group, FileMode.Open))
        {
            f.SetLength(AccountFile.MaxBytes + 1L);
        }
        _time.Advance(AccountNameCache.CheckInterval);
        Assert.Equal("root", cache.GroupName(0));
        _time.Advance(AccountNameCache.CheckInterval);
        Assert.Equal("root", cache.GroupName(0));

        AccountFileStatus status = cache.Groups;
        Assert.Equal(2, status.ReadFailures);
        Assert.Contains(Group, status.LastError);
        Assert.Contains("over the 33554432-byte limit", status.LastError);
        // reported once, counted twice
        Assert.Single(loads, l => l.Path == Group && l.LastError is not null);

        File.WriteAllText(Group, "wheel:x:0:\n");
        _time.Advance(AccountNameCache.CheckInterval);
        Assert.Equal("wheel", cache.GroupName(0));
        Assert.Null(cache.Groups.LastError);
    }

    [Fact]
    public async Task Names_ConcurrentReadersDuringReloads_AlwaysAWholeTable()
    {
        File.WriteAllText(Passwd, "a:x:1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\n");
        var cache = new AccountNameCache(_root, _time);
        using var stop = new CancellationTokenSource();
        long reads = 0, lower = 0, upper = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                AccountNameLookup names = cache.Current();
                string? one = names.User(1), two = names.User(2);
                // the files below always name 1 and 2 together, as a and b or as A and B
                Assert.True((one, two) is ("a", "b") or ("A", "B"), $"{one} {two}");
                if (one == "a") Interlocked.Increment(ref lower); else Interlocked.Increment(ref upper);
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        // reload at least 50 times, and until the readers have read both versions while reloads were going
        // on (on a loaded machine the readers may get no time slice before the first reload, or run only
        // while this loop waits for one)
        for (int i = 0; i < 50 || ((Interlocked.Read(ref reads) < 10_000 || Interlocked.Read(ref lower) == 0 || Interlocked.Read(ref upper) == 0) && i < 100_000); i++)
        {
            // replaced by rename, as vipw and useradd do, so a reader of the file never sees half of it
            string next = Passwd + ".new";
            File.WriteAllText(next, i % 2 == 0 ? "A:x:1:1::/:/bin/sh\nB:x:2:2::/:/bin/sh\n#\n" : "a:x:1:1::/:/bin/sh\nb:x:2:2::/:/bin/sh\n");
            File.Move(next, Passwd, overwrite: true);
            _time.Advance(AccountNameCache.CheckInterval);
            cache.Current();
        }
        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.True(Interlocked.Read(ref reads) >= 10_000);
        // Readers saw both versions. Not one load per replacement: a reader that read the clock
        // just before an advance may check after the next rename, and load that file a step early.
        Assert.True(Interlocked.Read(ref lower) > 0 && Interlocked.Read(ref upper) > 0, $"{lower} {upper}");
        Assert.True(cache.Users.Loads > 25, $"{cache.Users.Loads} loads");
    }

    [Fact]
    public void Names_ThisHost_UidAndGidZeroAreRoot()
    {
        var cache = new AccountNameCache();

        Assert.Equal("/etc/passwd", cache.Users.Path);
        Assert.Equal("root", cache.UserName(0));
        Assert.Equal("root", cache.GroupName(0));
    }
}
