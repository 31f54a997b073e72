package mailtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// dovecotConf is what the config templates need.
type dovecotConf struct {
	Dir         string // base of everything; short, for unix socket paths
	Port        int
	MailUID     int
	MailGID     int
	LoginUser   string // default_login_user: runs imap-login
	SystemUser  string // default_internal_user: runs auth, anvil, stats...
	SystemGroup string // default_internal_group: owns the internal sockets
	// OAuthMechanisms ("xoauth2", "oauthbearer") are offered next to the
	// password when set, checked by an oauth2 passdb configured in
	// Dir/oauth2.conf.ext (2.3 only).
	OAuthMechanisms []string
}

// render writes the configuration for major.minor version: 2.4 renamed most
// of what a minimal config touches (mail_location -> mail_driver/mail_path,
// %u -> %{user}, passdb/userdb args -> named settings).
func (c dovecotConf) render(version string) string {
	if versionAtLeast(version, 2, 4) {
		return fmt.Sprintf(conf24, c.Dir, c.Port, c.MailUID, c.MailGID, c.LoginUser, c.SystemUser, c.SystemGroup)
	}
	auth := fmt.Sprintf(auth23, c.Dir)
	if len(c.OAuthMechanisms) > 0 {
		auth = fmt.Sprintf(authOAuth23, c.Dir, strings.Join(c.OAuthMechanisms, " "))
	}
	return fmt.Sprintf(conf23, c.Dir, c.Port, c.MailUID, c.MailGID, c.LoginUser, c.SystemUser, c.SystemGroup, auth)
}

// Arguments, in order: dir, port, uid, gid, login user, internal user,
// internal group, and for 2.3 the auth section (auth23 or authOAuth23).
// Explicit indexes keep the two templates independent of each other.
//
// Both: chroot must be empty (the login and anvil processes would chroot
// into base_dir, which is not set up for it); mail is owned by an
// unprivileged uid because Dovecot refuses to access mail as root, and
// first_valid_uid admits that uid (the default 500 excludes system users);
// imaps is disabled (port 0) so parallel servers do not fight over 993;
// failed logins answer at once instead of after the 2 s anti-bruteforce
// delay; the 1 s idle check wakes IDLE even if inotify is unavailable.
// confCommon is what both versions spell the same way: where the server
// lives, who it runs as, and no TLS on loopback.
const confCommon = `protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
default_login_user = %[5]s
default_internal_user = %[6]s
default_internal_group = %[7]s
first_valid_uid = %[3]d
ssl = no
`

const conf23 = `# written by mailtest for Dovecot 2.3
` + confCommon + `disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:%[1]s/mail/%%u
mail_fsync = never
mailbox_idle_check_interval = 1 secs
%[8]suserdb {
  driver = static
  args = uid=%[3]d gid=%[4]d home=%[1]s/mail/%%u
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`

// auth23 and authOAuth23 are conf23's mechanisms and passdbs; arguments:
// dir and, for authOAuth23, the OAuth mechanisms. With OAuth each passdb is limited to its own mechanisms, so a token
// is never compared with the passwd file nor a password sent to the
// provider. auth_cache_size = 0 spells out that nothing is cached: a
// cached answer would keep a revoked token signing in.
const auth23 = `auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
`

const authOAuth23 = `auth_mechanisms = plain login %[2]s
auth_cache_size = 0
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
passdb {
  driver = oauth2
  mechanisms = %[2]s
  args = %[1]s/oauth2.conf.ext
}
`

const conf24 = `# written by mailtest for Dovecot 2.4
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
` + confCommon + `auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_failure_delay = 0
mail_driver = maildir
mail_home = %[1]s/mail/%%{user}
mail_path = %[1]s/mail/%%{user}
mail_fsync = never
mailbox_idle_check_interval = 1s
namespace inbox {
  inbox = yes
}
passdb passwd-file {
  passwd_file_path = %[1]s/passwd
}
userdb static {
  fields {
    uid = %[3]d
    gid = %[4]d
    home = %[1]s/mail/%%{user}
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`

// dovecotVersion runs `dovecot --version` ("2.3.19.1 (9b53102964)").
func dovecotVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return "", fmt.Errorf("%s --version: empty output", bin)
	}
	return fields[0], nil
}

func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// dovecotAccounts picks who runs what. As root, Dovecot drops to system
// users (dovenull for logins, dovecot for internals, with nobody as
// fallback) and mail belongs to the internal user. As anyone else,
// everything is the current user and group: Dovecot cannot switch then.
func dovecotAccounts() (dovecotConf, error) {
	var c dovecotConf
	sys, err := user.Current()
	if err != nil {
		return c, err
	}
	c.LoginUser = sys.Username
	if os.Geteuid() == 0 {
		if sys, err = user.Lookup("dovecot"); err != nil {
			if sys, err = user.Lookup("nobody"); err != nil {
				return c, fmt.Errorf("no dovecot or nobody user: %w", err)
			}
		}
		c.LoginUser = "dovenull"
		if _, err := user.Lookup(c.LoginUser); err != nil {
			c.LoginUser = sys.Username
		}
	}
	c.SystemUser = sys.Username
	if c.MailUID, err = strconv.Atoi(sys.Uid); err != nil {
		return c, err
	}
	if c.MailGID, err = strconv.Atoi(sys.Gid); err != nil {
		return c, err
	}
	group, err := user.LookupGroupId(sys.Gid)
	if err != nil {
		return c, err
	}
	c.SystemGroup = group.Name
	return c, nil
}
