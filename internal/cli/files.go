package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/ticketsync/ticketsync/internal/taskip"
)

func defineAttach(fs *flag.FlagSet) action {
	var description string
	fs.StringVar(&description, "description", "", "a description `TEXT` stored with the files")
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		// Every file is checked before the upload starts: a typo in the
		// third name should not leave the first two uploaded.
		files := make([]taskip.File, 0, len(args)-1)
		for _, path := range args[1:] {
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("attach: %w", err)
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("attach: %s is not a regular file", path)
			}
			f := taskip.LocalFile(path)
			files = append(files, f)
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		res, err := c.UploadAttachments(ctx, id, files, description)
		if err != nil {
			return err
		}
		if s.jsonOut {
			return s.printJSON(res)
		}
		if err := s.printf("%s uploaded to ticket %s\n", plural(len(res.UploadedFiles), "file", "files"), r); err != nil {
			return err
		}
		if len(res.UploadedFiles) == 0 {
			return nil
		}
		tb := newTable(s.env.Stdout)
		tb.row("ID", "NAME", "SIZE", "TYPE")
		for _, a := range res.UploadedFiles {
			tb.row(a.ID.String(), attachmentName(a), size(a.FileSize), a.MimeType)
		}
		return tb.flush()
	}
}

func defineAttachments(fs *flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		r, err := parseRef(args[0])
		if err != nil {
			return err
		}
		c, id, err := s.byID(ctx, &r)
		if err != nil {
			return err
		}
		list, err := c.ListAttachments(ctx, id)
		if err != nil {
			return err
		}
		if s.jsonOut {
			list.Attachments = nonNil(list.Attachments)
			return s.printJSON(list)
		}
		if len(list.Attachments) == 0 {
			return s.printf("ticket %s has no attachments\n", r)
		}
		now := s.now()
		tb := newTable(s.env.Stdout)
		tb.row("ID", "NAME", "SIZE", "TYPE", "UPLOADED BY", "UPLOADED", "URL")
		var total int64
		for _, a := range list.Attachments {
			total += a.FileSize
			tb.row(a.ID.String(), attachmentName(a), size(a.FileSize), a.MimeType,
				personName(a.UploadedBy), shortTime(now, a.UploadedAt), a.DownloadURL)
		}
		if err := tb.flush(); err != nil {
			return err
		}
		// The server's totals win; ours cover a server that omits them.
		n, sum := list.TotalAttachments, list.TotalSize
		if n == 0 {
			n = len(list.Attachments)
		}
		if sum == 0 {
			sum = total
		}
		return s.printf("%s, %s\n", plural(n, "attachment", "attachments"), size(sum))
	}
}

// attachmentName prefers the name the user uploaded over the stored one.
func attachmentName(a taskip.Attachment) string {
	if a.OriginalFilename != "" {
		return a.OriginalFilename
	}
	return a.Filename
}
