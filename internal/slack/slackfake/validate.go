package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// validateBlocks checks the Block Kit limits that ticketsync's messages can
// run into (documented in the Block Kit reference). Unknown block and element
// types pass: the fake checks limits, it does not re-implement Block Kit.
func validateBlocks(raw json.RawMessage) error {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return fmt.Errorf("blocks: %w", err)
	}
	if len(blocks) > 50 {
		return errLimit("blocks", len(blocks), 50)
	}
	for i, b := range blocks {
		if err := validateBlock(b); err != nil {
			return fmt.Errorf("blocks[%d] (%v): %w", i, b["type"], err)
		}
	}
	return nil
}

func validateBlock(b map[string]any) error {
	if err := maxLen(b, "block_id", 255); err != nil {
		return err
	}
	switch b["type"] {
	case "section":
		text, _ := b["text"].(map[string]any)
		fields, _ := b["fields"].([]any)
		if text == nil && len(fields) == 0 {
			return errors.New("section needs text or fields")
		}
		if text != nil {
			if err := textObject(text, 3000); err != nil {
				return err
			}
		}
		if len(fields) > 10 {
			return errLimit("fields", len(fields), 10)
		}
		for _, f := range fields {
			if err := textObject(asMap(f), 2000); err != nil {
				return err
			}
		}
		if acc, ok := b["accessory"].(map[string]any); ok {
			return element(acc)
		}
	case "header":
		text := asMap(b["text"])
		if text["type"] != "plain_text" {
			return errors.New("header text must be plain_text")
		}
		return textObject(text, 150)
	case "context":
		return each(b, "elements", 10, func(e map[string]any) error {
			if e["type"] == "image" {
				return maxLen(e, "alt_text", 2000)
			}
			return textObject(e, 3000)
		})
	case "actions":
		return each(b, "elements", 25, element)
	case "image":
		return maxLen(b, "alt_text", 2000)
	case "markdown":
		return maxLen(b, "text", 12000)
	case nil:
		return errors.New("block without type")
	}
	return nil
}

func element(e map[string]any) error {
	for key, max := range map[string]int{"action_id": 255, "value": 2000, "url": 3000} {
		if err := maxLen(e, key, max); err != nil {
			return err
		}
	}
	if c, ok := e["confirm"].(map[string]any); ok {
		for key, max := range map[string]int{"title": 100, "text": 300, "confirm": 30, "deny": 30} {
			if c[key] == nil {
				continue
			}
			if err := textObject(asMap(c[key]), max); err != nil {
				return fmt.Errorf("confirm %s: %w", key, err)
			}
		}
	}
	if p, ok := e["placeholder"].(map[string]any); ok {
		if err := textObject(p, 150); err != nil {
			return err
		}
	}
	switch e["type"] {
	case "button":
		return textObject(asMap(e["text"]), 75)
	case "static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes":
		limit := 100
		if e["type"] == "overflow" {
			limit = 5
		}
		return each(e, "options", limit, option)
	}
	return nil
}

func option(o map[string]any) error {
	if err := textObject(asMap(o["text"]), 75); err != nil {
		return err
	}
	return maxLen(o, "value", 150)
}

func textObject(t map[string]any, max int) error {
	if t["type"] != "plain_text" && t["type"] != "mrkdwn" {
		return fmt.Errorf("text object type %v", t["type"])
	}
	text, _ := t["text"].(string)
	if text == "" {
		return errors.New("empty text")
	}
	return maxLen(t, "text", max)
}

func maxLen(m map[string]any, key string, max int) error {
	s, _ := m[key].(string)
	if n := utf8.RuneCountInString(s); n > max {
		return errLimit(key, n, max)
	}
	return nil
}

func each(m map[string]any, key string, max int, check func(map[string]any) error) error {
	list, _ := m[key].([]any)
	if len(list) > max {
		return errLimit(key, len(list), max)
	}
	for _, v := range list {
		if err := check(asMap(v)); err != nil {
			return err
		}
	}
	return nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}
