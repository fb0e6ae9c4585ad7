using Sluice.Audit.Rules;
using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Rules;

/// <summary>Random token sequences never crash the parser: each line is compiled or refused with an error.</summary>
public class RuleParserFuzzTests
{
    private static readonly string[] s_listActions =
    [
        "always,exit", "exit,always", "never,task", "always,user", "never,exclude", "always,filesystem", "always,io_uring",
        "always,", ",exit", ",", "always,exit,x", "entry,always",
    ];

    private static readonly string[] s_tokens =
    [
        "-a", "-A", "-d", "-w", "-W", "-S", "-F", "-C", "-k", "-p", "-D", "-b", "-f", "-e", "-r", "-i", "-c", "-l",
        "--backlog_wait_time", "--loginuid-immutable", "--nope", "-", "--", "-x", "-Farch=b64", "-Sall", "-kk",
        .. s_listActions,
        "arch=b64", "arch=b32", "arch!=b64", "arch=x86_64", "arch=3221225534", "arch=0x1", "arch>b64",
        "open", "openat,close", "all", "59", "2031", "2032", "-1", "nosuch", ",,", "open,", "execve,all",
        "uid=0", "auid>=1000", "auid!=unset", "auid=-1", "gid=root", "euid=daemon", "uid=4294967295", "pid=99999999999",
        "exit=-EACCES", "exit=-EFOO", "exit=EPERM", "success=1", "msgtype=EOE", "msgtype=1300", "msgtype=NOPE",
        "path=/etc/x", "path=/etc/", "path=rel", "dir=/etc", "perm=wa", "perm=q", "perm=rwxaa", "filetype=file",
        "exe=/bin/x", "key=", "key=k", "a0=0x10", "a1&=3", "a2&4", "a3<=-1", "pers&1", "inode=5", "inode>5",
        "sessionid=unset", "saddr_fam=2", "saddr_fam=99", "fstype=debugfs", "subj_type=x", "obj_lev_high=s0",
        "devmajor=8", "ppid=1", "uid", "=", "uid=", "=5", "!=", "&", "&=", "<", ">", "<=", ">=",
        "auid!=uid", "uid=gid", "euid=obj_uid", "loginuid!=suid", "pid=uid",
        "/etc/passwd", "/", "relative", "wa", "rwxa", "z", "8192", "2", "3", "x", "0x10", "010", "09",
        "#", "#comment", new string('k', 200), new string('/', 5), "\u00e9t\u00e9", "\u0001", "\t",
    ];

    [Fact]
    public void Parse_RandomTokenLines_CompiledOrRefusedNeverThrows()
    {
        var random = new Random(20240611);
        var options = new RuleParserOptions
        {
            MachineArch = AuditArch.X86_64,
            ResolveUser = n => n == "root" ? 0 : null,
            ResolveGroup = n => n == "root" ? 0 : null,
            IsDirectory = p => p == "/etc",
        };
        int compiled = 0, refused = 0, controls = 0;
        for (int iteration = 0; iteration < 20000; iteration++)
        {
            var tokens = random.Next(2) == 0 ? RandomTokens(random) : ShapedTokens(random);
            string line = string.Join(' ', tokens);
            RuleSet set;
            try
            {
                set = RuleParser.Parse(line, "fuzz.rules", options);
            }
            catch (Exception e)
            {
                Assert.Fail($"parser threw {e.GetType().Name} on: {line}\n{e}");
                return;
            }
            var words = RuleParser.Tokenize(line);
            bool blank = words.Count == 0 || words[0].StartsWith('#');
            int outcomes = set.Rules.Count + set.Errors.Count + (set.Controls.Count > 0 ? 1 : 0);
            Assert.True(blank ? outcomes == 0 : outcomes == 1, $"line gave {outcomes} outcomes: {line}");
            foreach (var error in set.Errors)
            {
                Assert.Equal(1, error.Line);
                Assert.False(string.IsNullOrWhiteSpace(error.Reason));
            }
            foreach (var rule in set.Rules)
            {
                // A compiled rule is a well-formed audit_rule_data that prints.
                Assert.Equal(rule.Rule, KernelRule.FromBytes(rule.Rule.Bytes));
                Assert.StartsWith("-", RuleFormatter.Format(rule.Listed, AuditArch.X86_64));
            }
            compiled += set.Rules.Count;
            refused += set.Errors.Count;
            controls += set.Controls.Count > 0 ? 1 : 0;
        }
        // The generator reaches both outcomes, or the test proves little.
        Assert.True(compiled > 100, $"only {compiled} lines compiled");
        Assert.True(refused > 1000, $"only {refused} lines refused");
        Assert.True(controls > 10, $"only {controls} control lines");
    }

    // Any tokens in any order.
    private static string[] RandomTokens(Random random)
    {
        int count = random.Next(0, 12);
        var tokens = new string[count];
        for (int t = 0; t < count; t++)
        {
            tokens[t] = s_tokens[random.Next(s_tokens.Length)];
            if (random.Next(20) == 0)
            {
                tokens[t] = Mutate(tokens[t], random);
            }
        }
        return tokens;
    }

    private static readonly string[] s_starts = ["-a", "-A", "-d", "-w", "-W"];
    private static readonly string[] s_options = ["-F", "-F", "-F", "-S", "-k", "-C", "-p"];

    // Rule-shaped lines: a start option, then option/value pairs with values drawn from all tokens.
    private static string[] ShapedTokens(Random random)
    {
        var tokens = new List<string>();
        string start = s_starts[random.Next(s_starts.Length)];
        tokens.Add(start);
        tokens.Add(start is "-w" or "-W" ? "/etc/fuzz" + random.Next(3) : s_listActions[random.Next(s_listActions.Length)]);
        if (start is not ("-w" or "-W") && random.Next(2) == 0)
        {
            tokens.AddRange(["-F", random.Next(2) == 0 ? "arch=b64" : "arch=b32"]);
        }
        int pairs = random.Next(0, 6);
        for (int p = 0; p < pairs; p++)
        {
            tokens.Add(s_options[random.Next(s_options.Length)]);
            string value = s_tokens[random.Next(s_tokens.Length)];
            tokens.Add(random.Next(20) == 0 ? Mutate(value, random) : value);
        }
        return [.. tokens];
    }

    private static string Mutate(string token, Random random)
    {
        if (token.Length == 0)
        {
            return "x";
        }
        var chars = token.ToCharArray();
        char c = (char)random.Next(1, 0x250);
        // A newline would make two lines of one; line splitting is tested elsewhere.
        chars[random.Next(chars.Length)] = c is '\n' or '\r' ? '=' : c;
        return new string(chars);
    }
}
