package reputation

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch calls reload now, then after every change in one of the files'
// directories and on every tick of refresh, until ctx ends. It watches
// directories, not files: editors and Kubernetes ConfigMaps replace a file
// (rename, symlink swap) rather than write it, and a watch on the old file
// would see nothing after the first replacement. Without fsnotify (no
// inotify instances left, a directory that cannot be watched) the periodic
// re-read still keeps the content current, later.
//
// Sets and ASNDB share it, each with its own reload: that is the "same
// watch machinery" for both.
func watch(ctx context.Context, files []string, refresh time.Duration, log *slog.Logger, reload func(context.Context)) {
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if fw, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("cannot watch for file changes; re-reading periodically only", "err", err)
	} else {
		defer fw.Close()
		watched := 0
		for _, dir := range dirsOf(files) {
			if err := fw.Add(dir); err != nil {
				log.Warn("cannot watch a directory; re-reading it periodically only", "dir", dir, "err", err)
				continue
			}
			watched++
		}
		if watched > 0 {
			events, errs = fw.Events, fw.Errors
		}
	}
	// A change made before the watch was in place would otherwise wait for
	// the first tick.
	reload(ctx)
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// One replacement is several events (create, rename, chmod):
			// one reload covers them all.
			drain(events)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Unread, an error would stall fsnotify's delivery of events;
			// events may have been lost (a queue overflow), so re-read.
			log.Warn("watching for file changes", "err", err)
		case <-tick.C:
		}
		reload(ctx)
	}
}

// drain takes the events already queued, without waiting for more.
func drain(events <-chan fsnotify.Event) {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// dirsOf returns the distinct directories of files.
func dirsOf(files []string) []string {
	dirs := make([]string, 0, len(files))
	for _, f := range files {
		dirs = append(dirs, filepath.Dir(f))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}
