using System.Text.Json;
using Sluice.Collector.Export;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>
/// Every OCSF object Sluice writes conforms to the schema's facts (ocsf-required.json): every event of both
/// corpus files, and synthetic events for what the corpus lacks (logins over the network, refused connects,
/// IPv6, unix sockets, datagrams, account locks, failed logins, directories).
/// </summary>
public sealed class OcsfSchemaTests
{
    private static readonly OcsfSchemaFacts Facts = OcsfSchemaFacts.Load();

    public static TheoryData<string> Corpora => new(OcsfCorpus.Files);

    private static JsonElement Checked(StoredEvent stored, List<string> failures)
    {
        byte[] json = OcsfCorpus.Ocsf(stored);
        JsonElement ev = JsonDocument.Parse(json).RootElement.Clone();
        foreach (string error in Facts.Check(ev))
        {
            failures.Add($"serial {stored.Event.Serial}: {error}");
        }
        int classUid = ev.GetProperty("class_uid").GetInt32();
        if (OcsfCorpus.ClassUid(OcsfEvent.Classify(stored.Event)) != classUid)
        {
            failures.Add($"serial {stored.Event.Serial}: Classify says {OcsfEvent.Classify(stored.Event)}, the object class {classUid}");
        }
        return ev;
    }

    [Theory]
    [MemberData(nameof(Corpora))]
    public void Write_EveryCorpusEvent_ConformsToTheSchemaFacts(string file)
    {
        var events = OcsfCorpus.Load(file);
        var failures = new List<string>();
        var classes = new Dictionary<(int, int), int>();

        foreach (StoredEvent stored in events)
        {
            JsonElement ev = Checked(stored, failures);
            var key = (ev.GetProperty("class_uid").GetInt32(), ev.GetProperty("activity_id").GetInt32());
            classes[key] = classes.GetValueOrDefault(key) + 1;
            // the raw records are always there
            Assert.Equal(JsonValueKind.String, ev.GetProperty("raw_data").ValueKind);
        }

        Assert.Equal(836, events.Count);
        Assert.Empty(failures.Take(20));
        // what the corpus holds, by class and activity (every class Sluice writes is among them)
        Assert.Equal(755, classes[(1007, 1)]);       // execve: Launch
        Assert.Equal(1, classes[(1007, 5)]);         // setuid: Set User ID
        Assert.Equal(10, classes[(1001, 14)]);       // openat: Open
        Assert.Equal(1, classes[(1001, 1)]);         // openat with O_CREAT that made the file: Create
        Assert.Equal(9, classes[(1001, 5)]);         // rename, renameat2: Rename
        Assert.Equal(1, classes[(1001, 4)]);         // unlinkat: Delete
        Assert.Equal(1, classes[(1001, 7)]);         // fchmodat: Set Security
        Assert.Equal(3, classes[(1001, 8)]);         // getxattr, lgetxattr: Get Attributes
        Assert.Equal(1, classes[(4001, 1)]);         // connect: Open
        Assert.Equal(3, classes[(4001, 99)]);        // bind
        Assert.Equal(2, classes[(3002, 1)]);         // USER_AUTH, USER_START: Logon
        Assert.Equal(1, classes[(3002, 2)]);         // USER_END: Logoff
        Assert.Equal(2, classes[(3001, 1)]);         // ADD_USER: Create
        Assert.Equal(2, classes[(3001, 6)]);         // DEL_USER: Delete
        Assert.Equal(1, classes[(3001, 3)]);         // USER_CHAUTHTOK op=PAM:chauthtok: Password Change
        Assert.Equal(1, classes[(3001, 99)]);        // USER_CHAUTHTOK op=changing comment
        Assert.Equal(42, classes[(0, 99)]);          // the rest (groups, PAM accounting and credentials, auditd, netlink sendto, setgid): Base Event
    }

    // x86_64 SYSCALL record fields after exit=, for synthetic events
    private const string Caller = "a0=3 a1=7ffd00000000 a2=10 a3=0 items=0 ppid=700 pid=701 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3";

    private static readonly (string What, int ClassUid, int ActivityId, string[] Lines)[] Cases =
    [
        (
            "connect refused", 4001, 5,
            [
                $"type=SYSCALL msg=audit(1795567900.100:900001): arch=c000003e syscall=42 success=no exit=-111 {Caller} comm=\"curl\" exe=\"/usr/bin/curl\" key=\"net\"",
                "type=SOCKADDR msg=audit(1795567900.100:900001): saddr=020001BB0A0000090000000000000000",
            ]
        ),
        (
            "connect failed otherwise", 4001, 4,
            [
                $"type=SYSCALL msg=audit(1795567900.101:900002): arch=c000003e syscall=42 success=no exit=-113 {Caller} comm=\"curl\" exe=\"/usr/bin/curl\" key=\"net\"",
                "type=SOCKADDR msg=audit(1795567900.101:900002): saddr=020001BB0A0000090000000000000000",
            ]
        ),
        (
            "accept4 from an IPv6 peer", 4001, 1,
            [
                $"type=SYSCALL msg=audit(1795567900.102:900003): arch=c000003e syscall=288 success=yes exit=5 {Caller} comm=\"nginx\" exe=\"/usr/sbin/nginx\" key=\"net\"",
                "type=SOCKADDR msg=audit(1795567900.102:900003): saddr=0A001F900000000020010DB800000000000000000000000500000000",
            ]
        ),
        (
            "connect to a unix socket", 4001, 1,
            [
                $"type=SYSCALL msg=audit(1795567900.103:900004): arch=c000003e syscall=42 success=yes exit=0 {Caller} comm=\"busctl\" exe=\"/usr/bin/busctl\" key=\"net\"",
                "type=SOCKADDR msg=audit(1795567900.103:900004): saddr=01002F72756E2F646275732F73797374656D5F6275735F736F636B657400",
            ]
        ),
        (
            "a datagram sent", 4001, 6,
            [
                $"type=SYSCALL msg=audit(1795567900.104:900005): arch=c000003e syscall=44 success=yes exit=32 {Caller} comm=\"dig\" exe=\"/usr/bin/dig\" key=\"net\"",
                "type=SOCKADDR msg=audit(1795567900.104:900005): saddr=02000035C00002010000000000000000",
            ]
        ),
        (
            "sshd login from an address", 3002, 1,
            ["type=USER_LOGIN msg=audit(1795567900.200:900010): pid=812 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=203.0.113.7 addr=203.0.113.7 terminal=/dev/pts/1 res=success'"]
        ),
        (
            "failed login of a hex-encoded account", 3002, 1,
            ["type=USER_LOGIN msg=audit(1795567900.201:900011): pid=813 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=62616420757365720A exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.8 terminal=sshd res=failed'"]
        ),
        (
            "logout", 3002, 2,
            ["type=USER_LOGOUT msg=audit(1795567900.202:900012): pid=812 uid=0 auid=1000 ses=3 msg='op=logout id=1000 exe=\"/usr/sbin/sshd\" hostname=? addr=? terminal=/dev/pts/1 res=success'"]
        ),
        (
            "an account locked", 3001, 9,
            ["type=ACCT_LOCK msg=audit(1795567900.203:900013): pid=900 uid=0 auid=1000 ses=3 msg='op=locking account acct=\"alice\" exe=\"/usr/bin/passwd\" hostname=? addr=? terminal=pts/0 res=success'"]
        ),
        (
            "an account unlocked", 3001, 12,
            ["type=ACCT_UNLOCK msg=audit(1795567900.204:900014): pid=901 uid=0 auid=1000 ses=3 msg='op=unlocking account acct=\"alice\" exe=\"/usr/bin/passwd\" hostname=? addr=? terminal=pts/0 res=success'"]
        ),
        (
            "USER_ERR of an unknown account: no user, so a Base Event", 0, 99,
            ["type=USER_ERR msg=audit(1795567900.205:900015): pid=814 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:bad_ident grantors=? acct=\"?\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'"]
        ),
        (
            "mkdir", 1001, 1,
            [
                $"type=SYSCALL msg=audit(1795567900.300:900020): arch=c000003e syscall=83 success=yes exit=0 {Caller} comm=\"mkdir\" exe=\"/usr/bin/mkdir\" key=\"watched\"",
                "type=CWD msg=audit(1795567900.300:900020): cwd=\"/home/alice\"",
                "type=PATH msg=audit(1795567900.300:900020): item=0 name=\"/tmp/watched/\" inode=11658034 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
                "type=PATH msg=audit(1795567900.300:900020): item=1 name=\"sub\" nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
            ]
        ),
        (
            "unlink", 1001, 4,
            [
                $"type=SYSCALL msg=audit(1795567900.301:900021): arch=c000003e syscall=87 success=yes exit=0 {Caller} comm=\"rm\" exe=\"/usr/bin/rm\" key=\"watched\"",
                "type=PATH msg=audit(1795567900.301:900021): item=0 name=\"/tmp/watched/\" inode=11658034 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
                "type=PATH msg=audit(1795567900.301:900021): item=1 name=\"/tmp/watched/fifo\" inode=11658050 dev=fe:00 mode=010644 ouid=1000 ogid=1000 rdev=00:00 nametype=DELETE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
            ]
        ),
        (
            "a failed rename that named only the directories: no file, so a Base Event", 0, 99,
            [
                $"type=SYSCALL msg=audit(1795567900.302:900022): arch=c000003e syscall=82 success=no exit=-2 {Caller} comm=\"mv\" exe=\"/usr/bin/mv\" key=\"watched\"",
                "type=PATH msg=audit(1795567900.302:900022): item=0 name=\"/tmp/watched/\" inode=11658034 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
            ]
        ),
        (
            "kill: no class fits", 0, 99,
            [$"type=SYSCALL msg=audit(1795567900.400:900030): arch=c000003e syscall=62 success=yes exit=0 {Caller} comm=\"kill\" exe=\"/usr/bin/kill\" key=\"signal\""]
        ),
    ];

    public static TheoryData<string, int, int, string[]> Synthetic
    {
        get
        {
            var data = new TheoryData<string, int, int, string[]>();
            foreach (var c in Cases)
            {
                data.Add(c.What, c.ClassUid, c.ActivityId, c.Lines);
            }
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Synthetic))]
    public void Write_SyntheticEvent_ConformsAndHasItsClassAndActivity(string what, int classUid, int activityId, string[] lines)
    {
        var events = OcsfCorpus.FromLines(lines);
        var failures = new List<string>();

        JsonElement ev = Checked(Assert.Single(events), failures);

        Assert.True(failures.Count == 0, what + ":\n" + string.Join('\n', failures));
        Assert.Equal(classUid, ev.GetProperty("class_uid").GetInt32());
        Assert.Equal(activityId, ev.GetProperty("activity_id").GetInt32());
    }

    [Fact]
    public void Write_Network_EndpointsDirectionAndStatusFromTheSockaddrAndErrno()
    {
        JsonElement Of(int row) => JsonDocument.Parse(OcsfCorpus.Ocsf(Assert.Single(OcsfCorpus.FromLines(Cases[row].Lines)))).RootElement.Clone();

        JsonElement refused = Of(0), accepted = Of(2), unix = Of(3), datagram = Of(4);

        Assert.Equal("10.0.0.9", refused.GetProperty("dst_endpoint").GetProperty("ip").GetString());
        Assert.Equal(443, refused.GetProperty("dst_endpoint").GetProperty("port").GetInt32());
        Assert.Equal(2, refused.GetProperty("status_id").GetInt32());
        Assert.Equal("ECONNREFUSED", refused.GetProperty("status_detail").GetString());
        Assert.Equal("-111", refused.GetProperty("status_code").GetString());
        Assert.Equal(2, refused.GetProperty("connection_info").GetProperty("direction_id").GetInt32());
        Assert.Equal("2001:db8::5", accepted.GetProperty("src_endpoint").GetProperty("ip").GetString());
        Assert.Equal(8080, accepted.GetProperty("src_endpoint").GetProperty("port").GetInt32());
        Assert.Equal(1, accepted.GetProperty("connection_info").GetProperty("direction_id").GetInt32());
        Assert.False(accepted.TryGetProperty("dst_endpoint", out _));
        Assert.Equal("/run/dbus/system_bus_socket", unix.GetProperty("dst_endpoint").GetProperty("name").GetString());
        Assert.Equal("unix", unix.GetProperty("unmapped").GetProperty("sockaddr").GetProperty("family").GetString());
        Assert.Equal("192.0.2.1", datagram.GetProperty("dst_endpoint").GetProperty("ip").GetString());
        Assert.False(datagram.GetProperty("is_src_dst_assignment_known").GetBoolean());
    }

    [Fact]
    public void Write_Login_UserSourceAndSessionFromTheMessage()
    {
        JsonElement Of(int row) => JsonDocument.Parse(OcsfCorpus.Ocsf(Assert.Single(OcsfCorpus.FromLines(Cases[row].Lines)))).RootElement.Clone();

        JsonElement login = Of(5), failed = Of(6);

        Assert.Equal("1000", login.GetProperty("user").GetProperty("uid").GetString());
        Assert.False(login.GetProperty("user").TryGetProperty("name", out _));
        Assert.Equal("203.0.113.7", login.GetProperty("src_endpoint").GetProperty("ip").GetString());
        Assert.Equal("203.0.113.7", login.GetProperty("src_endpoint").GetProperty("hostname").GetString());
        Assert.Equal("3", login.GetProperty("actor").GetProperty("session").GetProperty("uid").GetString());
        Assert.Equal("/dev/pts/1", login.GetProperty("actor").GetProperty("session").GetProperty("terminal").GetString());
        Assert.Equal("1000", login.GetProperty("actor").GetProperty("user").GetProperty("uid").GetString());
        Assert.Equal(1, login.GetProperty("status_id").GetInt32());
        // acct= in hex: decoded, and its newline escaped by JSON, not cut
        Assert.Equal("bad user\n", failed.GetProperty("user").GetProperty("name").GetString());
        Assert.Equal(2, failed.GetProperty("status_id").GetInt32());
        Assert.False(failed.GetProperty("src_endpoint").TryGetProperty("hostname", out _));
        Assert.False(failed.GetProperty("actor").TryGetProperty("user", out _));
        Assert.Equal("login", failed.GetProperty("unmapped").GetProperty("msg").GetProperty("op").GetString());
    }
}
