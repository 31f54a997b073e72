package mime

import (
	"regexp"
	"strings"
	"sync"
)

// The line patterns StripQuoted knows, per language. Lines are matched
// after normalizeLine (trimmed, no-break spaces folded). Adding a language
// is adding alternatives here and a case in quote_test.go.

type quotePatternSet struct {
	attributionStrong *regexp.Regexp
	attributionWeak   *regexp.Regexp
	attributionHead   *regexp.Regexp
	dateOrAddress     *regexp.Regexp
	separator         *regexp.Regexp
	underscoreRule    *regexp.Regexp
	forwardMarker     *regexp.Regexp
	mobileSignature   *regexp.Regexp
}

// quotePatterns are compiled at the first mail, not at start: about
// 0.6 MiB of heap and 3-4 ms that an idle daemon need not pay.
var quotePatterns = sync.OnceValue(func() *quotePatternSet {
	return &quotePatternSet{
		// An attribution that starts with its language's "On"; strong enough
		// to cut on its own when it also carries a date, time or address.
		attributionStrong: regexp.MustCompile(`(?i)^(` +
			`on\s.+\swrote\s?:` + // Gmail, Apple Mail, Thunderbird, Yahoo
			`|am\s.+\sschrieb\s.+:|am\s.+\sschrieb\s?:` + // German
			`|le\s.+\sa\sécrit\s?:` + // French
			`|el\s.+\sescribió\s?:` + // Spanish
			`|op\s.+\sschreef.*:` + // Dutch
			`|il\s.+\sha\sscritto\s?:` + // Italian
			`)$`),
		// "John Smith <j@x> wrote:" and kin: only history when a quote follows.
		attributionWeak: regexp.MustCompile(`(?i)^.+\s(wrote|schrieb(\sam\s.+)?|a\sécrit|escribió|schreef|ha\sscritto)\s?:$`),
		attributionHead: regexp.MustCompile(`(?i)^(on|am|le|el|op|il)\s`),
		dateOrAddress:   regexp.MustCompile(`\d{1,2}[:.h]\d{2}|\b(19|20)\d{2}\b|\d{1,2}/\d{1,2}/\d{2,4}|@`),

		separator: regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|originalnachricht|` +
			`message d'origine|message d’origine|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}$`),
		underscoreRule: regexp.MustCompile(`^_{10,}$`),

		forwardMarker: regexp.MustCompile(`(?i)^(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|` +
			`mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)\s*-{2,}` +
			`|begin forwarded message\s?:|anfang der weitergeleiteten nachricht\s?:|début du message réexpédié\s?:` +
			`|-{2,}\s*forwarded by .*-{2,})$`),

		mobileSignature: regexp.MustCompile(`(?i)^(` +
			`sent from my [\pL\pN .'-]{1,40}` +
			`|sent from (mail|outlook|yahoo mail)( for [\pL\pN .-]{1,30})?` +
			`|get outlook for (ios|android)` +
			`|envoyé (de|depuis) mon [\pL\pN .'-]{1,40}` +
			`|von meinem [\pL\pN .'-]{1,40} gesendet` +
			`|gesendet von (meinem )?[\pL\pN .'-]{1,40}` +
			`|enviado desde mi [\pL\pN .'-]{1,40}` +
			`|verzonden vanaf mijn [\pL\pN .'-]{1,40}` +
			`|inviato da [\pL\pN .'-]{1,40}` +
			`)(\s*<https?://[^>\s]+>)?$`), // Outlook mobile appends its link
	}
})

// Header field names of quoted Outlook blocks, by role.
var (
	fromFields    = []string{"from", "von", "de", "van", "da"}
	dateFields    = []string{"sent", "date", "gesendet", "datum", "envoyé", "enviado", "verzonden", "inviato", "data"}
	toFields      = []string{"to", "an", "à", "a", "para", "aan"}
	subjectFields = []string{"subject", "betreff", "objet", "asunto", "onderwerp", "oggetto"}
)

// matchAttribution reports whether l is an attribution line, and whether
// it is of the language-prefixed kind that may stand without a quote.
func matchAttribution(l string) (strong, ok bool) {
	if !strings.HasSuffix(l, ":") {
		return false, false // every form ends with a colon; skip the regexps
	}
	if quotePatterns().attributionStrong.MatchString(l) {
		return true, true
	}
	return false, quotePatterns().attributionWeak.MatchString(l)
}

func startsAttribution(l string) bool { return quotePatterns().attributionHead.MatchString(l) }

func hasDateOrAddress(l string) bool { return quotePatterns().dateOrAddress.MatchString(l) }

func isSeparator(l string) bool { return quotePatterns().separator.MatchString(l) }

func isUnderscoreRule(l string) bool { return quotePatterns().underscoreRule.MatchString(l) }

func isForwardMarker(l string) bool { return quotePatterns().forwardMarker.MatchString(l) }

func isMobileSignature(l string) bool {
	return len(l) < 80 && quotePatterns().mobileSignature.MatchString(l)
}

// isHeaderField reports whether l starts with one of names followed by a
// colon, allowing Gmail's "*From:*" bold and French "De :".
func isHeaderField(l string, names []string) bool {
	l = strings.TrimPrefix(l, "*")
	for _, n := range names {
		if len(l) <= len(n) || !strings.EqualFold(l[:len(n)], n) {
			continue
		}
		rest := strings.TrimPrefix(l[len(n):], " ")
		if strings.HasPrefix(rest, ":") {
			return true
		}
	}
	return false
}
